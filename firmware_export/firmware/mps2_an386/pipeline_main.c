/**
 * @file pipeline_main.c
 * @brief Size build: the inference pipeline with the model and nothing else.
 *
 * Stands for a sensor's acquisition loop: a DMA-sized chunk of synthetic int16 samples
 * (deterministic noise plus a tone) is pushed into tinypdm_pipeline_push until
 * PIPELINE_WINDOWS windows were scored. No UART, no frames: the image's flash and RAM are
 * those of the pipeline and the model. Prints on the semihosting console
 * `pipeline windows=<k> samples=<n> ticks=<t> insns=<40 t> stack=<bytes> worst=<insns>\n`,
 * where ticks is the SysTick time of the pushes of k * HOP samples after PIPELINE_WARMUP
 * windows (ingest and the speed estimator included: k spans whole speed-estimate periods)
 * and worst the most instructions of one window (the pushes since the previous window's
 * end: ingest, any speed estimate that fell due, scoring), then one more window timed stage
 * by stage:
 * `stages features=<insns> score=<insns> speed=<insns>` (speed: one
 * tinypdm_speed_estimate; tinypdm_features_compute: mean, statistics, Hann,
 * FFT, bands, logarithms; tinypdm_score_features: standardise, quantise, int8 model,
 * score). A speed-aware model is measured at a known speed inside its envelope (the
 * speed-conditioned standardisation, logf included, runs on every window).
 * Exits with status 0 (1 when no window was scored).
 */
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "tinypdm_pipeline.h"

#ifndef PIPELINE_CHUNK
#define PIPELINE_CHUNK 64u
#endif
#ifndef PIPELINE_WINDOWS
/* Steady state over whole speed-estimate periods: the estimate (every TINYPDM_SPEED_HOP
 * decimated samples) is averaged in, not missed or over-weighted. */
#if TINYPDM_SPEED_ENABLED
#define PIPELINE_SPEED_PERIOD                                                                \
  (((uint32_t)TINYPDM_SPEED_HOP * TINYPDM_SPEED_Q + TINYPDM_HOP - 1u) / TINYPDM_HOP)
#define PIPELINE_WINDOWS (4u * PIPELINE_SPEED_PERIOD)
#else
#define PIPELINE_WINDOWS 4u
#endif
#endif
#ifndef PIPELINE_WARMUP
/* windows before timing starts: the speed estimator's buffer is full by then */
#define PIPELINE_WARMUP                                                                      \
  (1u + ((uint32_t)TINYPDM_SPEED_BUFFER * TINYPDM_SPEED_Q + TINYPDM_HOP - 1u) / TINYPDM_HOP)
#endif

static tinypdm_pipeline_t pipeline;
static int16_t chunk[PIPELINE_CHUNK];
static tinypdm_result_t results[PIPELINE_CHUNK / TINYPDM_HOP + 1u];
static uint32_t lcg = 12345u;

static void fill_chunk(uint32_t first)
{
    for (uint32_t i = 0; i < PIPELINE_CHUNK; ++i) {
        lcg = lcg * 1664525u + 1013904223u;
        const int32_t noise = (int32_t)(lcg >> 21) - 1024;
        const int32_t tone = ((first + i) / 6u) % 2u ? 2000 : -2000;
        chunk[i] = (int16_t)(noise + tone);
    }
}

int main(void)
{
    board_init(0u);
    tinypdm_pipeline_init(&pipeline);
#if defined(TINYPDM_SPEED_AWARE) && TINYPDM_SPEED_AWARE
    tinypdm_pipeline_set_speed(&pipeline, 0.5f * (TINYPDM_SPEED_ENVELOPE_LO_RPM +
                                                  TINYPDM_SPEED_ENVELOPE_HI_RPM));
#endif

    uint32_t scored = 0;
    uint32_t samples = 0;
    uint32_t ticks = 0;
    uint32_t timed_windows = 0;
    uint32_t window_ticks = 0; /* pushes since the last window ended */
    uint32_t worst_ticks = 0;
    while (scored < PIPELINE_WINDOWS + PIPELINE_WARMUP) {
        fill_chunk(samples);
        const uint32_t t0 = board_cycles_restart();
        const int k = tinypdm_pipeline_push(&pipeline, chunk, PIPELINE_CHUNK, results,
                                            (uint32_t)(sizeof results / sizeof results[0]));
        const uint32_t dt = board_cycles_elapsed(t0, board_cycles());
        samples += PIPELINE_CHUNK;
        if (k < 0) {
            return 2;
        }
        if (scored >= PIPELINE_WARMUP) {
            /* Steady state: every push after the warm-up, windows counted as they end. */
            ticks += dt;
            timed_windows += (uint32_t)k;
            window_ticks += dt;
            if (k > 0) { /* one window per push while PIPELINE_CHUNK <= HOP (else shared) */
                const uint32_t per = window_ticks / (uint32_t)k;
                worst_ticks = per > worst_ticks ? per : worst_ticks;
                window_ticks = 0;
            }
        }
        scored += (uint32_t)k;
    }
    if (timed_windows == 0u) {
        return 1;
    }

    /* The pipeline's stack use, before the stage timing below adds main's own buffers. */
    const uint32_t stack = board_stack_high_water();

    /* Stage by stage, on the last window (pipeline.work is free between pushes). */
    float features[TINYPDM_N_FEATURES];
    tinypdm_window_stats_t stats;
    for (uint32_t i = 0; i < TINYPDM_WINDOW; ++i) {
        pipeline.work[i] = (float)pipeline.ring[i] * pipeline.scale;
    }
    uint32_t t0 = board_cycles_restart();
    tinypdm_features_compute(pipeline.work, features, &stats);
    const uint32_t feature_ticks = board_cycles_elapsed(t0, board_cycles());
    const float score_rpm = tinypdm_speed_rpm(&pipeline.speed);
    t0 = board_cycles_restart();
    volatile float score = tinypdm_score_features_at(features, score_rpm, NULL);
    const uint32_t score_ticks = board_cycles_elapsed(t0, board_cycles());
    (void)score;
    /* one speed estimate on the decimated ring (work is free again) */
    for (uint32_t i = 0; i < TINYPDM_SPEED_BUFFER && TINYPDM_SPEED_ENABLED; ++i) {
        pipeline.work[i] = pipeline.speed.ring[i];
    }
    t0 = board_cycles_restart();
    volatile float rpm = tinypdm_speed_estimate(pipeline.work);
    const uint32_t speed_ticks = board_cycles_elapsed(t0, board_cycles());
    (void)rpm;

    char line[160];
    uint32_t n = board_format_str(line, "pipeline windows=");
    n += board_format_u32(line + n, timed_windows);
    n += board_format_str(line + n, " samples=");
    n += board_format_u32(line + n, samples);
    n += board_format_str(line + n, " ticks=");
    n += board_format_u32(line + n, ticks);
    n += board_format_str(line + n, " insns=");
    n += board_format_u32(line + n, ticks * BOARD_INSNS_PER_TICK);
    n += board_format_str(line + n, " stack=");
    n += board_format_u32(line + n, stack);
    n += board_format_str(line + n, " worst=");
    n += board_format_u32(line + n, worst_ticks * BOARD_INSNS_PER_TICK);
    line[n++] = '\n';
    line[n] = '\0';
    board_debug_puts(line);

    n = board_format_str(line, "stages features=");
    n += board_format_u32(line + n, feature_ticks * BOARD_INSNS_PER_TICK);
    n += board_format_str(line + n, " score=");
    n += board_format_u32(line + n, score_ticks * BOARD_INSNS_PER_TICK);
    n += board_format_str(line + n, " speed=");
    n += board_format_u32(line + n, speed_ticks * BOARD_INSNS_PER_TICK);
    line[n++] = '\n';
    line[n] = '\0';
    board_debug_puts(line);
    return 0;
}
