/**
 * @file tinypdm_score.c
 * @brief Standardise, quantise, int8 model, dequantise, mean squared error; alarm ring.
 */
#include "tinypdm_score.h"

#include <math.h>
#include <stddef.h>

#include "model_data.h"
#include "tinypdm_model.h"

#if TINYPDM_N_INPUTS != TINYPDM_N_FEATURES || TINYPDM_N_OUTPUTS != TINYPDM_N_FEATURES
#error "the autoencoder must map TINYPDM_N_FEATURES values to TINYPDM_N_FEATURES values"
#endif
#if TINYPDM_ALARM_K < 1 || TINYPDM_ALARM_K > TINYPDM_ALARM_N || TINYPDM_ALARM_N > 255
#error "alarm policy must satisfy 1 <= k <= n <= 255"
#endif

int8_t tinypdm_quantize(float v, float scale, int32_t zero_point) {
  const float r = roundf(v / scale); /* half away from zero, like TfLiteRound */
  float q;
  if (!(r == r)) { /* NaN */
    return (int8_t)(zero_point < -128 ? -128 : (zero_point > 127 ? 127 : zero_point));
  }
  q = r + (float)zero_point;
  if (q < -128.0f) {
    return -128;
  }
  if (q > 127.0f) {
    return 127;
  }
  return (int8_t)q;
}

float tinypdm_dequantize(int8_t q, float scale, int32_t zero_point) {
  return scale * (float)((int32_t)q - zero_point);
}

float tinypdm_score_features(const float *features, tinypdm_score_trace_t *trace) {
  tinypdm_score_trace_t local;
  tinypdm_score_trace_t *t = trace != NULL ? trace : &local;
  float sum = 0.0f;
  uint32_t i;
  for (i = 0; i < TINYPDM_N_FEATURES; ++i) {
    t->z[i] = (features[i] - tinypdm_feature_mean[i]) / tinypdm_feature_scale[i];
    t->q_in[i] = tinypdm_quantize(t->z[i], TINYPDM_INPUT_SCALE, TINYPDM_INPUT_ZERO_POINT);
  }
  tinypdm_model_invoke(t->q_in, t->q_out);
  for (i = 0; i < TINYPDM_N_FEATURES; ++i) {
    const float e =
        t->z[i] - tinypdm_dequantize(t->q_out[i], TINYPDM_OUTPUT_SCALE, TINYPDM_OUTPUT_ZERO_POINT);
    sum += e * e;
  }
  return sum / (float)TINYPDM_N_FEATURES;
}

void tinypdm_alarm_init(tinypdm_alarm_t *alarm) {
  uint32_t i;
  for (i = 0; i < TINYPDM_ALARM_N; ++i) {
    alarm->over[i] = 0;
  }
  alarm->pos = 0;
  alarm->n_over = 0;
}

uint8_t tinypdm_alarm_update(tinypdm_alarm_t *alarm, uint8_t over) {
  const uint8_t bit = over != 0 ? 1u : 0u;
  alarm->n_over = (uint16_t)(alarm->n_over - alarm->over[alarm->pos] + bit);
  alarm->over[alarm->pos] = bit;
  alarm->pos = (uint16_t)((alarm->pos + 1u) % TINYPDM_ALARM_N);
  return alarm->n_over >= TINYPDM_ALARM_K ? 1u : 0u;
}
