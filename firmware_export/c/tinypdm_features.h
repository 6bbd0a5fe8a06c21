/**
 * @file tinypdm_features.h
 * @brief Window features of docs/features.md in float32.
 *
 * Mean removal, time statistics (m2, kurtosis, crest), periodic Hann window, a real FFT
 * (N/2-point complex radix-4 FFT plus split, in place), band powers and tinypdm_log10f (the
 * library's own: no libm transcendental, so the device and a host build agree bit for bit).
 * The window length, bands and tables come from the generated header and model_data.c
 * (twiddles are generated constants in flash: no RAM, no malloc, no init call).
 */
#ifndef TINYPDM_FEATURES_H
#define TINYPDM_FEATURES_H

#include <stdint.h>

#include "tinypdm_model_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Time statistics of one window, physical units. */
typedef struct {
  float mean;     /**< removed mean */
  float m2;       /**< variance (mean square after mean removal) */
  float rms;      /**< sqrt(m2) */
  float kurtosis; /**< m4 / m2^2, 0 when m2 == 0 */
  float crest;    /**< max|d| / rms, 0 when rms == 0 */
  float velocity; /**< velocity RMS over TINYPDM_VEL_BIN_LO..HI (10 Hz - 1 kHz), units x s */
} tinypdm_window_stats_t;

/**
 * @brief In-place real FFT of TINYPDM_WINDOW points.
 *
 * Output is packed: x[0] = Re Y[0], x[1] = Re Y[N/2], x[2k] = Re Y[k], x[2k+1] = Im Y[k]
 * for 0 < k < N/2, with Y[k] = sum_n x[n] exp(-2 pi i k n / N).
 * @param x [TINYPDM_WINDOW] float, overwritten by the spectrum
 */
void tinypdm_rfft(float *x);

/**
 * @brief In-place real FFT of n = 2^log2n points, 64 <= n <= TINYPDM_WINDOW (the twiddle
 *        tables are read with stride TINYPDM_WINDOW / n); packed as tinypdm_rfft.
 */
void tinypdm_rfft_n(float *x, uint32_t log2n);

/**
 * @brief Feature vector of one window.
 * @param x        [TINYPDM_WINDOW] samples in physical units; used as work space (destroyed)
 * @param features [TINYPDM_N_FEATURES] out: log10 band powers, log10(m2 + eps), kurtosis, crest
 * @param stats    out: time statistics, or NULL
 */
void tinypdm_features_compute(float *x, float *features, tinypdm_window_stats_t *stats);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_FEATURES_H */
