/**
 * @file tinypdm_score.h
 * @brief Standardise, quantise, run the model, dequantise, score; k-of-n alarm policy.
 *
 * score = mean_i (z_i - z_hat_i)^2 with z the standardised features and z_hat the
 * dequantised reconstruction (docs/features.md). A window is "over" when
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
  float z[TINYPDM_N_FEATURES];      /**< standardised features */
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
 * @brief Anomaly score of one feature vector.
 * @param features [TINYPDM_N_FEATURES] as tinypdm_features_compute returns them
 * @param trace    out: intermediate values, or NULL
 * @return mean squared reconstruction error in standardised units
 */
float tinypdm_score_features(const float *features, tinypdm_score_trace_t *trace);

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
