/**
 * @file board.c
 * @brief mps2-an386 peripherals: CMSDK APB UART0, SysTick, CMSDK APB TIMER0, semihosting.
 *
 * UART0 receive is interrupt driven into a small ring buffer. When the ring is full the
 * interrupt handler leaves the byte in the UART and masks its RX interrupt: QEMU then stops
 * delivering bytes (its UART model accepts a byte only while RXFULL is clear), so the link
 * applies back-pressure instead of dropping data while the pipeline runs.
 */
#include "board.h"

#include <stddef.h>

/* CMSDK APB UART (ARM DDI0479 4.3); UART0 at 0x40004000, RX IRQ 0, TX IRQ 1. */
typedef struct {
    volatile uint32_t data;
    volatile uint32_t state;     /* bit 0 TXFULL, bit 1 RXFULL, bits 2/3 overrun (W1C) */
    volatile uint32_t ctrl;      /* bit 0 TX_EN, bit 1 RX_EN, bit 3 RX_INTEN */
    volatile uint32_t intstatus; /* W1C: bit 0 TX, bit 1 RX */
    volatile uint32_t bauddiv;   /* >= 16 */
} cmsdk_uart_t;

/* CMSDK APB timer (ARM DDI0479 4.4); TIMER0 at 0x40000000, IRQ 8. */
typedef struct {
    volatile uint32_t ctrl; /* bit 0 enable, bit 3 interrupt enable */
    volatile uint32_t value;
    volatile uint32_t reload;
    volatile uint32_t intstatus; /* W1C bit 0 */
} cmsdk_timer_t;

#define UART0 ((cmsdk_uart_t *)0x40004000u)
#define TIMER0 ((cmsdk_timer_t *)0x40000000u)

#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_CTRL_TX_EN (1u << 0)
#define UART_CTRL_RX_EN (1u << 1)
#define UART_CTRL_RX_INTEN (1u << 3)
#define UART_INT_RX (1u << 1)

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_CLKSOURCE_CPU (1u << 2)

#define NVIC_ISER0 (*(volatile uint32_t *)0xE000E100u)
#define IRQ_UART0RX 0u
#define IRQ_TIMER0 8u

#define RX_RING_SIZE 256u /* power of two */

static volatile uint8_t rx_ring[RX_RING_SIZE];
static volatile uint32_t rx_head; /* written by the ISR */
static volatile uint32_t rx_tail; /* written by the main loop */
static volatile uint32_t timer_ticks;

static inline void irq_disable(void) { __asm volatile("cpsid i" ::: "memory"); }
static inline void irq_enable(void) { __asm volatile("cpsie i" ::: "memory"); }

void board_init(uint32_t tick_ms)
{
    rx_head = 0u;
    rx_tail = 0u;
    timer_ticks = 0u;

    UART0->bauddiv = BOARD_SYSCLK_HZ / BOARD_UART_BAUD;
    UART0->intstatus = 0xFu;
    UART0->ctrl = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_INTEN;

    /* SysTick free-running over its full 24 bits on the processor clock, no interrupt. */
    SYST_RVR = BOARD_SYSTICK_MASK;
    SYST_CVR = 0u;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE_CPU;

    if (tick_ms > 0u) {
        const uint32_t reload = tick_ms * (BOARD_SYSCLK_HZ / 1000u);
        TIMER0->ctrl = 0u;
        TIMER0->reload = reload;
        TIMER0->value = reload;
        TIMER0->intstatus = 1u;
        TIMER0->ctrl = (1u << 0) | (1u << 3);
        NVIC_ISER0 = (1u << IRQ_TIMER0);
    }
    NVIC_ISER0 = (1u << IRQ_UART0RX);
    irq_enable();
}

void UART0RX_IRQHandler(void)
{
    /* Clear first: a byte arriving after the last RXFULL check raises the IRQ again. */
    UART0->intstatus = UART_INT_RX;
    while (UART0->state & UART_STATE_RXFULL) {
        const uint32_t head = rx_head;
        if (head - rx_tail >= RX_RING_SIZE) {
            /* Full: leave the byte in the UART (back-pressure) until the main loop drains. */
            UART0->ctrl &= ~UART_CTRL_RX_INTEN;
            return;
        }
        rx_ring[head & (RX_RING_SIZE - 1u)] = (uint8_t)UART0->data;
        rx_head = head + 1u;
    }
}

void TIMER0_IRQHandler(void)
{
    TIMER0->intstatus = 1u;
    timer_ticks = timer_ticks + 1u;
}

int32_t board_uart_getc(void)
{
    int32_t c = -1;
    irq_disable();
    const uint32_t tail = rx_tail;
    if (rx_head != tail) {
        c = (int32_t)rx_ring[tail & (RX_RING_SIZE - 1u)];
        rx_tail = tail + 1u;
    } else if (UART0->state & UART_STATE_RXFULL) {
        /* The ISR stopped on a full ring and the ring is empty now: take it directly. */
        c = (int32_t)(UART0->data & 0xFFu);
    }
    if (c >= 0 && !(UART0->ctrl & UART_CTRL_RX_INTEN)) {
        UART0->ctrl |= UART_CTRL_RX_INTEN;
    }
    irq_enable();
    return c;
}

void board_wait_for_event(void)
{
    irq_disable();
    if (rx_head == rx_tail && !(UART0->state & UART_STATE_RXFULL)) {
        UART0->ctrl |= UART_CTRL_RX_INTEN;
        /* WFI wakes on a pending interrupt even with PRIMASK set; the ISR runs on cpsie. */
        __asm volatile("wfi" ::: "memory");
    }
    irq_enable();
}

void board_uart_write(const uint8_t *data, uint32_t n)
{
    for (uint32_t i = 0; i < n; ++i) {
        while (UART0->state & UART_STATE_TXFULL) {
        }
        UART0->data = data[i];
    }
}

uint32_t board_ticks(void) { return timer_ticks; }

uint32_t board_cycles(void) { return (BOARD_SYSTICK_MASK - SYST_CVR) & BOARD_SYSTICK_MASK; }

uint32_t board_cycles_restart(void)
{
    SYST_CVR = 0u; /* any write clears the counter; it reloads on the next tick */
    return board_cycles();
}

uint32_t board_format_u32(char *out, uint32_t value)
{
    char tmp[10];
    uint32_t n = 0;
    do {
        tmp[n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0u);
    for (uint32_t i = 0; i < n; ++i) {
        out[i] = tmp[n - 1u - i];
    }
    return n;
}

uint32_t board_format_str(char *out, const char *text)
{
    uint32_t n = 0;
    while (text[n] != '\0') {
        out[n] = text[n];
        ++n;
    }
    return n;
}

/* ARM semihosting on M-profile: BKPT 0xAB, operation in r0, parameter in r1. */
static uint32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

#define SYS_WRITE0 0x04u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

void board_debug_puts(const char *text) { (void)semihost(SYS_WRITE0, text); }

void board_exit(int32_t status)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) {
        (void)semihost(SYS_EXIT_EXTENDED, block);
    }
}
