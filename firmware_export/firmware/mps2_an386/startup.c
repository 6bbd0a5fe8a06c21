/**
 * @file startup.c
 * @brief Vector table and reset handler for the mps2-an386 (Cortex-M4F).
 *
 * Reset: enable the FPU (CPACR), paint the unused stack, copy .data from flash, zero .bss,
 * run main(), then exit through semihosting with main's return value.
 */
#include <stdint.h>

#include "board.h"

extern uint32_t __data_load__[];
extern uint32_t __data_start__[];
extern uint32_t __data_end__[];
extern uint32_t __bss_start__[];
extern uint32_t __bss_end__[];
extern uint32_t __stack_bottom__[];
extern uint32_t __stack_top__[];

extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UART0RX_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));
void UART0TX_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));
void TIMER0_IRQHandler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*vector_t)(void);

/* 16 system exceptions + the 32 external interrupts QEMU gives the AN385/AN386 NVIC. */
#define N_VECTORS (16 + 32)

__attribute__((section(".isr_vector"), used)) static const vector_t vectors[N_VECTORS] = {
    [0] = (vector_t)(uintptr_t)__stack_top__,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 + 0] = UART0RX_IRQHandler,
    [16 + 1] = UART0TX_IRQHandler,
    [16 + 8] = TIMER0_IRQHandler,
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

void Reset_Handler(void)
{
    /* CP10 and CP11 full access: the FPU, before any code may touch s-registers. */
    SCB_CPACR |= (0xFu << 20);
    __asm volatile("dsb\n\tisb" ::: "memory");

    /* Paint the stack from its bottom up to just below this frame. */
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *p = __stack_bottom__; (uint32_t)(uintptr_t)p < sp - 16u; ++p) {
        *p = BOARD_STACK_PAINT;
    }

    const uint32_t *src = __data_load__;
    for (uint32_t *dst = __data_start__; dst < __data_end__;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = __bss_start__; dst < __bss_end__;) {
        *dst++ = 0u;
    }

    board_exit(main());
}

/* Any unexpected exception ends the run with status 128 + exception number (HardFault: 131). */
void Default_Handler(void)
{
    uint32_t ipsr;
    __asm volatile("mrs %0, ipsr" : "=r"(ipsr));
    board_exit((int32_t)(128u + (ipsr & 0x7Fu)));
}

uint32_t board_stack_size(void)
{
    return (uint32_t)((uintptr_t)__stack_top__ - (uintptr_t)__stack_bottom__);
}

uint32_t board_stack_high_water(void)
{
    const volatile uint32_t *p = __stack_bottom__;
    while (p < __stack_top__ && *p == BOARD_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)((uintptr_t)__stack_top__ - (uintptr_t)p);
}
