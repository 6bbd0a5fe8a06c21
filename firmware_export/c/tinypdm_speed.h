/**
 * @file tinypdm_speed.h
 * @brief Tachless shaft speed from the vibration itself (docs/features.md, "Shaft speed").
 *
 * Every raw sample (physical units) enters a two-stage polyphase decimator (factor
 * TINYPDM_SPEED_Q = R * Q2: a triangle by R, 2 multiply-adds per raw sample, then a
 * Hamming-windowed sinc by Q2, TINYPDM_SPEED_TAPS_PER_PHASE multiply-adds per stage-1
 * sample); the decimated
 * samples fill a ring of TINYPDM_SPEED_BUFFER floats. Every TINYPDM_SPEED_HOP decimated
 * samples once the ring is full an estimate is due: tinypdm_speed_update runs it in a
 * caller's work buffer (the pipeline lends its window buffer, free between windows):
 * Hann, real FFT, log power, harmonic-comb contrast over the nameplate range,
 * sub-harmonic checks, parabolic refinement. The reported speed is the median of the last
 * TINYPDM_SPEED_MEDIAN estimates, or the external (tacho) speed while one is set.
 * vibration.learning.speed is the float32 reference of the same arithmetic.
 */
#ifndef TINYPDM_SPEED_H
#define TINYPDM_SPEED_H

#include <stdint.h>

#include "tinypdm_model_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Estimator state; initialise with tinypdm_speed_init. */
typedef struct {
  float acc1[2];                             /**< stage-1 (triangle) partial outputs */
  float acc[TINYPDM_SPEED_TAPS_PER_PHASE];   /**< stage-2 (sinc) partial outputs, oldest first */
  float ring[TINYPDM_SPEED_ENABLED ? TINYPDM_SPEED_BUFFER : 1]; /**< decimated samples */
  float history[TINYPDM_SPEED_MEDIAN];       /**< last estimates, rpm (NaN: no contrast) */
  float external;                            /**< external speed, rpm; NaN: none */
  float rpm;                                 /**< median of history; NaN while warming up */
  uint32_t phase1;                           /**< raw samples into the stage-1 output */
  uint32_t phase;                            /**< stage-1 samples into the current output */
  uint32_t head;                             /**< next ring slot */
  uint32_t filled;                           /**< decimated samples in the ring (<= BUFFER) */
  uint32_t until_estimate;                   /**< decimated samples before the next estimate */
  uint32_t n_estimates;                      /**< estimates made since init */
  uint8_t due;                               /**< an estimate is due (tinypdm_speed_update) */
} tinypdm_speed_t;

/** @brief Reset: empty decimator and ring, no estimate, no external speed. */
void tinypdm_speed_init(tinypdm_speed_t *s);

/**
 * @brief Push one raw sample of the scored axis, physical units.
 * @return 1 when an estimate is due (call tinypdm_speed_update before the next push),
 *         else 0
 */
int tinypdm_speed_push(tinypdm_speed_t *s, float x);

/**
 * @brief Push n int16 samples x[i * stride] as (float)x * scale (what the pipeline does),
 *        running each estimate in work as soon as it is due. The same arithmetic as n
 *        calls of tinypdm_speed_push, cheaper per sample.
 * @param work TINYPDM_WINDOW floats of scratch
 */
void tinypdm_speed_push_int16(tinypdm_speed_t *s, const int16_t *x, uint32_t n, uint32_t stride,
                              float scale, float *work);

/**
 * @brief Run the due estimate (nothing when none is due).
 * @param work TINYPDM_WINDOW floats of scratch (TINYPDM_SPEED_BUFFER are used)
 */
void tinypdm_speed_update(tinypdm_speed_t *s, float *work);

/** @brief The speed to report, rpm: the external one when set, else the running median
 *         (NaN while warming up or without any contrast). */
float tinypdm_speed_rpm(const tinypdm_speed_t *s);

/** @brief External speed (CONTROL command 1), rpm; <= 0 or NaN: back to tachless. */
void tinypdm_speed_set_external(tinypdm_speed_t *s, float rpm);

/**
 * @brief One estimate from TINYPDM_SPEED_BUFFER decimated samples (oldest first) in work.
 * @param work TINYPDM_WINDOW floats: the buffer on entry, destroyed
 * @return rpm, NaN when no candidate has positive contrast
 */
float tinypdm_speed_estimate(float *work);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_SPEED_H */
