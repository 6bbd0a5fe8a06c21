/**
 * @file sensor_main.c
 * @brief Reference sensor firmware: the tinypdm pipeline behind the serial protocol.
 *
 * QEMU has no accelerometer, so the host streams recorded samples to UART0 as SAMPLES
 * frames (docs/protocol.md, host -> device). The firmware:
 *  - sends HELLO at boot and every TINYPDM_FW_HELLO_PERIOD_MS, then a TEXT line (level 1);
 *  - pushes the scored axis of every SAMPLES frame through tinypdm_pipeline_push_interleaved
 *    and sends one SCORE frame per completed window; t_us of a window's last sample is the
 *    frame's t_us plus the sample's offset at the model's sample rate;
 *  - after every SAMPLES frame (its SCORE frames first), sends a TEXT frame (level 0)
 *    `perf n=<samples> windows=<k> ticks=<systick> insns=<40*ticks> stack=<bytes>`:
 *    the SysTick time of that push call with interrupts masked (guest instructions under
 *    `qemu -icount shift=0`) and the stack high-water mark so far. It doubles as the
 *    host's acknowledgement of the frame (flow control);
 *  - takes a host HELLO's `scale` (> 0) as the physical units per LSB of what follows;
 *  - on a SAMPLES frame with n == 0 (end of stream), sends a TEXT frame (level 1)
 *    `stats frames=... crc_errors=... dropped=... windows=... results_dropped=... stack=...`
 *    and exits with status 0 (QEMU terminates with it).
 */
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "tinypdm_frame.h"
#include "tinypdm_pipeline.h"

#ifndef TINYPDM_FW_DEVICE_ID
#define TINYPDM_FW_DEVICE_ID "qemu-mps2-an386"
#endif
#ifndef TINYPDM_FW_HELLO_PERIOD_MS
#define TINYPDM_FW_HELLO_PERIOD_MS 10000u
#endif

/* Enough results for the largest SAMPLES frame: n / HOP + 1 windows. */
#define MAX_RESULTS (TINYPDM_FRAME_MAX_SAMPLES / TINYPDM_HOP + 1u)
/* The largest frame this firmware sends: a TEXT frame of TINYPDM_TEXT_MAX bytes. */
#define TX_CAP TINYPDM_FRAME_WIRE_SIZE(1u + TINYPDM_TEXT_MAX)

static tinypdm_pipeline_t pipeline;
static tinypdm_frame_decoder_t decoder;
static tinypdm_result_t results[MAX_RESULTS];
static uint8_t tx[TX_CAP];
static uint32_t tx_seq;
static uint32_t windows_total;

static void send_wire(size_t n)
{
    if (n > 0u) {
        board_uart_write(tx, (uint32_t)n);
    }
}

static void send_text(uint8_t level, const char *text, uint32_t m)
{
    send_wire(tinypdm_frame_encode_text(tx, sizeof tx, &tx_seq, level, text, m));
}

static void send_hello(void)
{
    tinypdm_hello_t hello;
    tinypdm_pipeline_hello(&pipeline, &hello);
    memset(hello.device_id, 0, sizeof hello.device_id);
    memcpy(hello.device_id, TINYPDM_FW_DEVICE_ID,
           sizeof TINYPDM_FW_DEVICE_ID - 1u < sizeof hello.device_id
               ? sizeof TINYPDM_FW_DEVICE_ID - 1u
               : sizeof hello.device_id);
    send_wire(tinypdm_frame_encode_hello(tx, sizeof tx, &tx_seq, &hello));
}

/* Append " key=value" to line at *n. */
static void put_field(char *line, uint32_t *n, const char *key, uint32_t value)
{
    *n += board_format_str(line + *n, " ");
    *n += board_format_str(line + *n, key);
    *n += board_format_str(line + *n, "=");
    *n += board_format_u32(line + *n, value);
}

static void on_samples(void)
{
    char line[160];
    uint32_t n = 0;
    const uint64_t base = pipeline.n_samples;

    /* Interrupts masked: the count is the pipeline's alone, the same on every run. QEMU's
       UART holds the next byte meanwhile (back-pressure), so nothing is lost. */
    const uint32_t primask = board_irq_save();
    const uint32_t t0 = board_cycles_restart();
    const int k = tinypdm_pipeline_push_interleaved(&pipeline, decoder.samples, decoder.n,
                                                    decoder.axes, results, MAX_RESULTS);
    const uint32_t ticks = board_cycles_elapsed(t0, board_cycles());
    board_irq_restore(primask);

    if (k < 0) {
        n = board_format_str(line, "samples: axes=");
        n += board_format_u32(line + n, decoder.axes);
        n += board_format_str(line + n, " does not hold the scored axis");
        send_text(2u, line, n);
    }
    /* Microseconds per sample at the model's sample rate. */
    const float us_per_sample = 1e6f / TINYPDM_SAMPLE_RATE_HZ;
    const uint32_t n_results = k > 0 ? (uint32_t)k : 0u;
    for (uint32_t i = 0; i < n_results; ++i) {
        const uint64_t offset = results[i].sample_index - base;
        const uint64_t t_us = decoder.t_us + (uint64_t)((float)offset * us_per_sample + 0.5f);
        tinypdm_score_msg_t msg;
        tinypdm_result_to_score(&results[i], t_us, &msg);
        send_wire(tinypdm_frame_encode_score(tx, sizeof tx, &tx_seq, &msg));
    }
    windows_total += n_results;
    n = board_format_str(line, "perf");
    put_field(line, &n, "n", decoder.n);
    put_field(line, &n, "windows", n_results);
    put_field(line, &n, "ticks", ticks);
    put_field(line, &n, "insns", ticks * BOARD_INSNS_PER_TICK);
    put_field(line, &n, "stack", board_stack_high_water());
    send_text(0u, line, n);
}

static void send_stats(void)
{
    char line[200];
    uint32_t n = board_format_str(line, "stats");
    put_field(line, &n, "frames", decoder.counters.frames);
    put_field(line, &n, "crc_errors", decoder.counters.crc_errors);
    put_field(line, &n, "dropped", decoder.counters.dropped_frames);
    put_field(line, &n, "windows", windows_total);
    put_field(line, &n, "results_dropped", pipeline.results_dropped);
    put_field(line, &n, "stack", board_stack_high_water());
    send_text(1u, line, n);
}

/* A host HELLO announces the scale (physical units per LSB) of the samples it streams. */
static void on_hello(void)
{
    if (decoder.length < TINYPDM_HELLO_BYTES) {
        return;
    }
    float scale;
    memcpy(&scale, decoder.payload + 8, sizeof scale); /* little-endian f32 at offset 8 */
    if (scale > 0.0f) {
        tinypdm_pipeline_set_scale(&pipeline, scale);
    }
    tinypdm_pipeline_set_units(&pipeline, (const char *)decoder.payload + 12); /* char[8] */
}

int main(void)
{
    board_init(TINYPDM_FW_HELLO_PERIOD_MS);
    tinypdm_pipeline_init(&pipeline);
    tinypdm_frame_decoder_init(&decoder);

    send_hello();
    static const char ready[] = "tinypdm reference firmware on mps2-an386: send SAMPLES, n=0 ends";
    send_text(1u, ready, sizeof ready - 1u);

    uint32_t hello_ticks = board_ticks();
    for (;;) {
        const int32_t c = board_uart_getc();
        if (c < 0) {
            if (board_ticks() != hello_ticks) {
                hello_ticks = board_ticks();
                send_hello();
            }
            board_wait_for_event();
            continue;
        }
        const int type = tinypdm_frame_decoder_push(&decoder, (uint8_t)c);
        if (type == (int)TINYPDM_FRAME_SAMPLES) {
            if (decoder.n == 0u) {
                send_stats();
                return 0;
            }
            on_samples();
        } else if (type == (int)TINYPDM_FRAME_HELLO) {
            on_hello();
        } else if (type == (int)TINYPDM_FRAME_CONTROL) {
            tinypdm_control_t control;
            if (tinypdm_frame_decode_control(&decoder, &control)) {
                (void)tinypdm_pipeline_control(&pipeline, &control);
            }
        }
    }
}
