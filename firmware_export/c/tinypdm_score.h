/**
 * @file tinypdm_score.h
 * @brief Standardise, quantise, run the model, dequantise, score; k-of-n alarm policy.
 *
 * Standardisation (float32, docs/features.md): expected_i = mean_i + slope_i * (ln(rpm) - u0)
 * in a speed-conditioned model (TINYPDM_SPEED_CONDITIONED) when rpm is finite and > 0, else
 * mean_i; z_i = (f_i - expected_i) / scale_i; one-sided models (TINYPDM_ONE_SIDED) feed
 * z+_i = min(max(z_i, 0), TINYPDM_Z_MAX) to the network.
 * Two-sided: score = mean_i (z_i - z_hat_i)^2; one-sided:
 * score = mean_i max(z+_i - z_hat_i, 0)^2 + mean_i z+_i^2, with z_hat the dequantised
 * reconstruction. A window is "over" when
 * score > TINYPDM_THRESHOLD; the alarm holds while at least TINYPDM_ALARM_K of the last
 * TINYPDM_ALARM_N windows were over.
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
} tinypdm_score_trace_t;

/** @brief k-of-n alarm state. */
typedef struct {
  uint8_t over[TINYPDM_ALARM_N]; /**< ring of the last n decisions */
  uint16_t pos;                  /**< next ring slot */
  uint16_t n_over;               /**< ones in the ring */
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

/** @brief Reset the alarm ring (no window over). */
void tinypdm_alarm_init(tinypdm_alarm_t *alarm);

/**
 * @brief Record one window's decision.
 * @return 1 while at least TINYPDM_ALARM_K of the last TINYPDM_ALARM_N windows were over
 */
uint8_t tinypdm_alarm_update(tinypdm_alarm_t *alarm, uint8_t over);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_SCORE_H */
