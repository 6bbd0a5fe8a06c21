/**
 * @file tinypdm_score.h
 * @brief Standardise, quantise, run the model, dequantise, score; the alarm lifecycle.
 *
 * Standardisation (float32, docs/features.md): expected_i = mean_i + slope_i * (ln(rpm) - u0)
 * in a speed-conditioned model (TINYPDM_SPEED_CONDITIONED) when rpm is finite and > 0, else
 * mean_i; z_i = (f_i - expected_i) / scale_i; one-sided models (TINYPDM_ONE_SIDED) feed
 * z+_i = min(max(z_i, 0), TINYPDM_Z_MAX) to the network.
 * Two-sided: score = mean_i e_i^2 with e_i = z_i - z_hat_i; one-sided:
 * score = mean_i e_i^2 + mean_i z+_i^2 with e_i = max(z+_i - z_hat_i, 0), z_hat the
 * dequantised reconstruction; the top features are the two largest e_i^2. A window is
 * "over" when score > threshold. The alarm is raised when at least TINYPDM_ALARM_K of the last
 * TINYPDM_ALARM_N windows were over and cleared once the score has stayed below
 * TINYPDM_ALARM_CLEAR_RATIO * threshold for TINYPDM_ALARM_CLEAR_WINDOWS windows in a row,
 * the alarm has lasted TINYPDM_ALARM_MIN_ON_WINDOWS windows and (TINYPDM_ALARM_LATCH) it
 * was acknowledged: vibration.learning.thresholds.AlarmLifecycle, docs/model.md. Windows of
 * unknown operating point (tinypdm_unknown_operating_point) do not advance it.
 */
#ifndef TINYPDM_SCORE_H
#define TINYPDM_SCORE_H

#include <stdint.h>

#include "tinypdm_model_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief Intermediate values of one scoring, for tests and debugging. */
typedef struct {
  float z[TINYPDM_N_FEATURES];      /**< network inputs: z, or z+ in a one-sided model */
  int8_t q_in[TINYPDM_N_FEATURES];  /**< quantised model input */
  int8_t q_out[TINYPDM_N_FEATURES]; /**< model output */
  uint8_t top[2]; /**< indices of the largest and second largest squared error; 255 none */
} tinypdm_score_trace_t;

/** Window states (SCORE v2 `state`). */
#define TINYPDM_STATE_OK 0u
#define TINYPDM_STATE_OVER 1u
#define TINYPDM_STATE_ALARM 2u
#define TINYPDM_STATE_UNKNOWN 3u
/** SCORE v2 `flags` bits. */
#define TINYPDM_FLAG_UNKNOWN_OP 1u
#define TINYPDM_FLAG_EXTERNAL_SPEED 2u
#define TINYPDM_FLAG_LATCHED 4u
#define TINYPDM_FLAG_SHELVED 8u
/** "no feature" in top[] */
#define TINYPDM_NO_FEATURE 255u

/** @brief Alarm lifecycle state. */
typedef struct {
  uint8_t over[TINYPDM_ALARM_N]; /**< ring of the last n decisions */
  uint16_t pos;                  /**< next ring slot */
  uint16_t n_over;               /**< ones in the ring */
  uint16_t below_run;            /**< windows in a row below the clear level, in alarm */
  uint16_t on_count;             /**< windows reported in alarm so far */
  uint8_t active;                /**< the alarm is raised */
  uint8_t latched;               /**< raised with TINYPDM_ALARM_LATCH, not yet acknowledged */
} tinypdm_alarm_t;

/** @brief clamp(round(v / scale) + zero_point, -128, 127), round half away from zero. */
int8_t tinypdm_quantize(float v, float scale, int32_t zero_point);

/** @brief scale * (q - zero_point). */
float tinypdm_dequantize(int8_t q, float scale, int32_t zero_point);

/**
 * @brief Anomaly score of one feature vector at an unknown speed (the mean is not
 *        conditioned on speed): tinypdm_score_features_at(features, NAN, trace).
 * @param features [TINYPDM_N_FEATURES] as tinypdm_features_compute returns them
 * @param trace    out: intermediate values, or NULL
 * @return the anomaly score (see the file comment)
 */
float tinypdm_score_features(const float *features, tinypdm_score_trace_t *trace);

/**
 * @brief Anomaly score of one feature vector at shaft speed rpm.
 * @param rpm shaft speed; NaN or <= 0: unknown (expected = mean); ignored unless the model is
 *            speed-conditioned
 */
float tinypdm_score_features_at(const float *features, float rpm, tinypdm_score_trace_t *trace);

/**
 * @brief 1 when the window's operating point is unknown: a speed-aware model
 *        (TINYPDM_SPEED_AWARE) and rpm NaN or outside
 *        [TINYPDM_SPEED_ENVELOPE_LO_RPM, TINYPDM_SPEED_ENVELOPE_HI_RPM]; always 0 otherwise.
 */
uint8_t tinypdm_unknown_operating_point(float rpm);

/** @brief Idle, empty ring (no window over), nothing latched. */
void tinypdm_alarm_init(tinypdm_alarm_t *alarm);

/**
 * @brief Advance the lifecycle by one window.
 * @param score     the window's score
 * @param threshold over when score > threshold; clear level TINYPDM_ALARM_CLEAR_RATIO * it
 * @param unknown   1: unknown operating point; nothing changes
 * @return TINYPDM_STATE_ALARM while the alarm is raised, else TINYPDM_STATE_OVER or
 *         TINYPDM_STATE_OK; TINYPDM_STATE_UNKNOWN when unknown
 */
uint8_t tinypdm_alarm_step(tinypdm_alarm_t *alarm, float score, float threshold, uint8_t unknown);

/**
 * @brief Acknowledge (CONTROL command 2): release a latched alarm, which then clears by the
 *        ordinary rule on the next window.
 * @return 1 when an alarm was latched
 */
uint8_t tinypdm_alarm_acknowledge(tinypdm_alarm_t *alarm);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_SCORE_H */
