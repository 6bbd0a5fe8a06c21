/**
 * @file tinypdm_score.c
 * @brief Standardise, quantise, int8 model, dequantise, mean squared error; alarm ring.
 */
#include "tinypdm_score.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

#include "model_data.h"
#include "tinypdm_model.h"

#if TINYPDM_N_INPUTS != TINYPDM_N_FEATURES || TINYPDM_N_OUTPUTS != TINYPDM_N_FEATURES
#error "the autoencoder must map TINYPDM_N_FEATURES values to TINYPDM_N_FEATURES values"
#endif
/* Headers generated before speed conditioning: a two-sided, speed-unaware model. */
#ifndef TINYPDM_SPEED_AWARE
#define TINYPDM_SPEED_AWARE 0
#endif
#ifndef TINYPDM_SPEED_CONDITIONED
#define TINYPDM_SPEED_CONDITIONED 0
#endif
#ifndef TINYPDM_ONE_SIDED
#define TINYPDM_ONE_SIDED 0
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
  return tinypdm_score_features_at(features, NAN, trace);
}

uint8_t tinypdm_unknown_operating_point(float rpm) {
#if TINYPDM_SPEED_AWARE
  /* NaN fails both comparisons: unknown */
  return (rpm >= TINYPDM_SPEED_ENVELOPE_LO_RPM && rpm <= TINYPDM_SPEED_ENVELOPE_HI_RPM) ? 0u : 1u;
#else
  (void)rpm;
  return 0u;
#endif
}

float tinypdm_score_features_at(const float *features, float rpm, tinypdm_score_trace_t *trace) {
  tinypdm_score_trace_t local;
  tinypdm_score_trace_t *t = trace != NULL ? trace : &local;
  float sum = 0.0f;
  uint32_t i;
#if TINYPDM_SPEED_CONDITIONED
  /* du = logf(rpm) - u0 in float32; 0 when the speed is unknown (expected = mean) */
  const float du = (rpm > 0.0f && rpm <= FLT_MAX) ? logf(rpm) - TINYPDM_SPEED_U0 : 0.0f;
#else
  (void)rpm;
#endif
#if TINYPDM_ONE_SIDED
  float energy = 0.0f;
#endif
  for (i = 0; i < TINYPDM_N_FEATURES; ++i) {
#if TINYPDM_SPEED_CONDITIONED
    const float expected = tinypdm_feature_mean[i] + tinypdm_feature_slope[i] * du;
#else
    const float expected = tinypdm_feature_mean[i];
#endif
    float z = (features[i] - expected) / tinypdm_feature_scale[i];
#if TINYPDM_ONE_SIDED
    z = z > 0.0f ? (z < TINYPDM_Z_MAX ? z : TINYPDM_Z_MAX) : 0.0f; /* NaN -> 0 */
#endif
    t->z[i] = z;
    t->q_in[i] = tinypdm_quantize(z, TINYPDM_INPUT_SCALE, TINYPDM_INPUT_ZERO_POINT);
  }
  tinypdm_model_invoke(t->q_in, t->q_out);
  for (i = 0; i < TINYPDM_N_FEATURES; ++i) {
    float e =
        t->z[i] - tinypdm_dequantize(t->q_out[i], TINYPDM_OUTPUT_SCALE, TINYPDM_OUTPUT_ZERO_POINT);
#if TINYPDM_ONE_SIDED
    e = e > 0.0f ? e : 0.0f; /* only an excess over the reconstruction counts */
    energy += t->z[i] * t->z[i];
#endif
    sum += e * e;
  }
#if TINYPDM_ONE_SIDED
  return sum / (float)TINYPDM_N_FEATURES + energy / (float)TINYPDM_N_FEATURES;
#else
  return sum / (float)TINYPDM_N_FEATURES;
#endif
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
