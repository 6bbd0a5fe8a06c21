/**
 * @file board.h
 * @brief Board support for QEMU's mps2-an386 (Cortex-M4F): UART0, timers, exit, stack use.
 *
 * Bare metal, no vendor headers. Peripheral addresses follow QEMU's hw/arm/mps2.c for the
 * AN385/AN386 FPGA images; registers follow the Cortex-M System Design Kit TRM (ARM DDI0479).
 *
 * Instruction counting: under `qemu-system-arm -icount shift=0` one guest instruction
 * advances virtual time by exactly 1 ns. QEMU clocks SysTick (processor clock source) at
 * the board's 25 MHz SYSCLK, so one SysTick tick is 40 ns of virtual time = 40 guest
 * instructions. board_cycles() reads the free-running SysTick; on real hardware the same
 * code counts core clock cycles.
 */
#ifndef TINYPDM_BOARD_H
#define TINYPDM_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Frequency QEMU clocks SysTick and the APB timers with (the MPS2 SYSCLK), Hz. */
#define BOARD_SYSCLK_HZ 25000000u
/** Guest instructions per SysTick tick under `-icount shift=0` (1e9 / BOARD_SYSCLK_HZ). */
#define BOARD_INSNS_PER_TICK 40u
/** SysTick is a 24-bit down-counter. */
#define BOARD_SYSTICK_MASK 0x00FFFFFFu
/** UART0 baud rate programmed into BAUDDIV (QEMU does not pace bytes by it). */
#define BOARD_UART_BAUD 115200u
/** Word the start-up code paints the stack with. */
#define BOARD_STACK_PAINT 0xC5A5C5A5u

/** Bring up the FPU-enabled core's peripherals: UART0 (TX, RX + RX interrupt), SysTick,
 *  TIMER0 (periodic tick every @p tick_ms milliseconds, 1..171000; 0 = off). */
void board_init(uint32_t tick_ms);

/** Send @p n bytes on UART0, polling TXFULL (blocks while the host does not read). */
void board_uart_write(const uint8_t *data, uint32_t n);

/** Return the next received byte (0..255), or -1 when none is waiting. Never blocks. */
int32_t board_uart_getc(void);

/** Sleep (WFI) until a byte is received or the periodic tick fires. */
void board_wait_for_event(void);

/** Number of TIMER0 periodic ticks since board_init(); the caller compares snapshots. */
uint32_t board_ticks(void);

/** Mask interrupts (PRIMASK); return the previous mask for board_irq_restore(). */
static inline uint32_t board_irq_save(void)
{
    uint32_t primask;
    __asm volatile("mrs %0, primask\n\tcpsid i" : "=r"(primask)::"memory");
    return primask;
}

/** Restore the interrupt mask board_irq_save() returned. */
static inline void board_irq_restore(uint32_t primask)
{
    __asm volatile("msr primask, %0" ::"r"(primask) : "memory");
}

/** Free-running SysTick reading: counts up by one every 40 ns of virtual time (24 bits). */
uint32_t board_cycles(void);

/** Restart SysTick from its reload value and return board_cycles(): aligns the 40-instruction
 *  tick grid with the caller, so that equal code gives equal readings on every run. */
uint32_t board_cycles_restart(void);

/** Ticks of SysTick between two board_cycles() readings (intervals < 2^24 ticks). */
static inline uint32_t board_cycles_elapsed(uint32_t start, uint32_t end)
{
    return (end - start) & BOARD_SYSTICK_MASK;
}

/** Bytes of the stack reservation ever written since reset (painted-stack high-water mark). */
uint32_t board_stack_high_water(void);

/** Size of the stack reservation in bytes (from the linker script). */
uint32_t board_stack_size(void);

/** Write @p value in decimal at @p out (no terminator); return the number of chars (1..10). */
uint32_t board_format_u32(char *out, uint32_t value);

/** Copy the NUL-terminated @p text to @p out (no terminator); return its length. */
uint32_t board_format_str(char *out, const char *text);

/** Write a NUL-terminated string to the semihosting console (QEMU's stderr). */
void board_debug_puts(const char *text);

/** Interrupt handlers board.c implements (the vector table in startup.c points at them). */
void UART0RX_IRQHandler(void);
void TIMER0_IRQHandler(void);

/** End the program: semihosting SYS_EXIT_EXTENDED; QEMU exits with @p status. */
__attribute__((noreturn)) void board_exit(int32_t status);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_BOARD_H */
