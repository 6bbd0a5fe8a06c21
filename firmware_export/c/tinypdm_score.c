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
#if TINYPDM_ALARM_CLEAR_WINDOWS < 1 || TINYPDM_ALARM_CLEAR_WINDOWS > 65535 || \
    TINYPDM_ALARM_MIN_ON_WINDOWS < 0 || TINYPDM_ALARM_MIN_ON_WINDOWS > 65535
#error "alarm policy must satisfy 1 <= clear_windows <= 65535, 0 <= min_on_windows <= 65535"
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
  float e1 = -1.0f; /* the two largest squared errors so far (ties: lower index first) */
  float e2 = -1.0f;
  t->top[0] = TINYPDM_NO_FEATURE;
  t->top[1] = TINYPDM_NO_FEATURE;
  tinypdm_model_invoke(t->q_in, t->q_out);
  for (i = 0; i < TINYPDM_N_FEATURES; ++i) {
    float e =
        t->z[i] - tinypdm_dequantize(t->q_out[i], TINYPDM_OUTPUT_SCALE, TINYPDM_OUTPUT_ZERO_POINT);
#if TINYPDM_ONE_SIDED
    e = e > 0.0f ? e : 0.0f; /* only an excess over the reconstruction counts */
    energy += t->z[i] * t->z[i];
#endif
    const float e_sq = e * e;
    sum += e_sq;
    if (e_sq > e1) {
      e2 = e1;
      t->top[1] = t->top[0];
      e1 = e_sq;
      t->top[0] = (uint8_t)i;
    } else if (e_sq > e2) {
      e2 = e_sq;
      t->top[1] = (uint8_t)i;
    }
  }
#if TINYPDM_ONE_SIDED
  return sum / (float)TINYPDM_N_FEATURES + energy / (float)TINYPDM_N_FEATURES;
#else
  return sum / (float)TINYPDM_N_FEATURES;
#endif
}

static void clear_ring(tinypdm_alarm_t *alarm) {
  uint32_t i;
  for (i = 0; i < TINYPDM_ALARM_N; ++i) {
    alarm->over[i] = 0;
  }
  alarm->pos = 0;
  alarm->n_over = 0;
}

void tinypdm_alarm_init(tinypdm_alarm_t *alarm) {
  clear_ring(alarm);
  alarm->below_run = 0;
  alarm->on_count = 0;
  alarm->active = 0;
  alarm->latched = 0;
}

uint8_t tinypdm_alarm_step(tinypdm_alarm_t *alarm, float score, float threshold, uint8_t unknown) {
  const float clear_level = threshold * TINYPDM_ALARM_CLEAR_RATIO;
  uint8_t over;
  if (unknown != 0u) {
    return TINYPDM_STATE_UNKNOWN;
  }
  over = score > threshold ? 1u : 0u;
  alarm->n_over = (uint16_t)(alarm->n_over - alarm->over[alarm->pos] + over);
  alarm->over[alarm->pos] = over;
  alarm->pos = (uint16_t)((alarm->pos + 1u) % TINYPDM_ALARM_N);
  if (alarm->active) {
    if (score < clear_level) {
      if (alarm->below_run < 65535u) {
        alarm->below_run++;
      }
    } else {
      alarm->below_run = 0;
    }
    if (!alarm->latched && alarm->below_run >= TINYPDM_ALARM_CLEAR_WINDOWS &&
        (uint32_t)alarm->on_count + 1u > (uint32_t)TINYPDM_ALARM_MIN_ON_WINDOWS) {
      /* on_count >= MIN_ON, written so that MIN_ON = 0 is not an always-true comparison */
      clear_ring(alarm); /* a new alarm needs k fresh overs */
      alarm->active = 0;
      alarm->below_run = 0;
      alarm->on_count = 0;
    } else if (alarm->on_count < 65535u) {
      alarm->on_count++;
    }
  } else if (alarm->n_over >= TINYPDM_ALARM_K) {
    alarm->active = 1;
    alarm->latched = TINYPDM_ALARM_LATCH ? 1u : 0u;
    alarm->on_count = 1;
    alarm->below_run = 0;
  }
  if (alarm->active) {
    return TINYPDM_STATE_ALARM;
  }
  return over ? TINYPDM_STATE_OVER : TINYPDM_STATE_OK;
}

uint8_t tinypdm_alarm_acknowledge(tinypdm_alarm_t *alarm) {
  const uint8_t was = alarm->latched;
  alarm->latched = 0;
  return was;
}
