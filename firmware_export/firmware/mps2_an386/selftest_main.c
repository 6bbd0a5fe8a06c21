/**
 * @file selftest_main.c
 * @brief Board self-test: proves the UART both ways, the exit status and the
 *        instruction-counting method, without the tinypdm library.
 *
 * Sends one line `bsp loop=<ticks> empty=<ticks> n=<iterations> stack=<bytes>\n`, where
 * `loop` is the SysTick time of a loop of exactly 3 * n + 1 instructions and `empty` the time
 * of an empty interval (the measurement's own overhead). Then echoes every byte it receives
 * until it receives `q`, and exits with status 3.
 */
#include <stdint.h>

#include "board.h"

#define CALIBRATION_ITERATIONS 100000u

/* Exactly 3 * n + 1 instructions: mov, then n times (subs, nop, bne) -- the last bne not
 * taken. Written in assembly so that the compiler cannot change the count. */
static void __attribute__((noinline)) calibrated_loop(uint32_t n)
{
    __asm volatile("    mov r0, %0\n"
                   "1:  subs r0, r0, #1\n"
                   "    nop\n"
                   "    bne 1b\n"
                   :
                   : "r"(n)
                   : "r0", "cc");
}

int main(void)
{
    board_init(0u);

    uint32_t t0 = board_cycles();
    uint32_t t1 = board_cycles();
    const uint32_t empty = board_cycles_elapsed(t0, t1);

    t0 = board_cycles_restart();
    calibrated_loop(CALIBRATION_ITERATIONS);
    t1 = board_cycles();
    const uint32_t loop = board_cycles_elapsed(t0, t1);

    char line[96];
    uint32_t n = 0;
    n += board_format_str(line + n, "bsp loop=");
    n += board_format_u32(line + n, loop);
    n += board_format_str(line + n, " empty=");
    n += board_format_u32(line + n, empty);
    n += board_format_str(line + n, " n=");
    n += board_format_u32(line + n, CALIBRATION_ITERATIONS);
    n += board_format_str(line + n, " stack=");
    n += board_format_u32(line + n, board_stack_high_water());
    line[n++] = '\n';
    board_uart_write((const uint8_t *)line, n);

    for (;;) {
        const int32_t c = board_uart_getc();
        if (c < 0) {
#ifndef SELFTEST_BUSY
            board_wait_for_event();
#endif
            continue;
        }
        if (c == 'q') {
            return 3;
        }
        const uint8_t byte = (uint8_t)c;
        board_uart_write(&byte, 1u);
    }
}
