/**
 * @file tinypdm_pipeline.c
 * @brief Ring buffer of samples, a scored window every hop.
 */
#include "tinypdm_pipeline.h"

#include <string.h>

#include "model_data.h"

#if TINYPDM_HOP < 1
#error "TINYPDM_HOP must be >= 1"
#endif

void tinypdm_pipeline_init(tinypdm_pipeline_t *p) {
  memset(p, 0, sizeof(*p));
  p->until_next = TINYPDM_WINDOW;
  p->scale = TINYPDM_SAMPLE_SCALE;
  p->threshold = TINYPDM_THRESHOLD;
  tinypdm_alarm_init(&p->alarm);
  tinypdm_speed_init(&p->speed);
}

void tinypdm_pipeline_set_scale(tinypdm_pipeline_t *p, float units_per_lsb) {
  p->scale = units_per_lsb;
}

static void score_window(tinypdm_pipeline_t *p, tinypdm_result_t *r) {
  float features[TINYPDM_N_FEATURES];
  tinypdm_window_stats_t stats;
  uint32_t i;
  uint32_t src = p->head; /* oldest sample */
  for (i = 0; i < TINYPDM_WINDOW; ++i) {
    p->work[i] = (float)p->ring[src] * p->scale;
    src = src + 1u == TINYPDM_WINDOW ? 0u : src + 1u;
  }
  tinypdm_features_compute(p->work, features, &stats);
  r->sample_index = p->n_samples - 1u;
  r->score = tinypdm_score_features(features, NULL);
  r->threshold = p->threshold;
  r->rms = stats.rms;
  r->kurtosis = stats.kurtosis;
  r->crest = stats.crest;
  r->speed_rpm = tinypdm_speed_rpm(&p->speed);
  r->over = r->score > p->threshold ? 1u : 0u;
  r->alarm = tinypdm_alarm_update(&p->alarm, r->over);
}

static int push_strided(tinypdm_pipeline_t *p, const int16_t *samples, uint32_t n,
                        uint32_t stride, tinypdm_result_t *out, uint32_t max_out) {
  uint32_t produced = 0;
  uint32_t i;
  for (i = 0; i < n; ++i) {
    const int16_t sample = samples[(size_t)i * stride];
    p->ring[p->head] = sample;
    if (tinypdm_speed_push(&p->speed, (float)sample * p->scale)) {
      tinypdm_speed_update(&p->speed, p->work); /* work is free between windows */
    }
    p->head = p->head + 1u == TINYPDM_WINDOW ? 0u : p->head + 1u;
    p->n_samples++;
    if (--p->until_next == 0u) {
      p->until_next = TINYPDM_HOP;
      if (produced < max_out) {
        score_window(p, &out[produced]);
        produced++;
      } else {
        tinypdm_result_t dropped;
        score_window(p, &dropped); /* keep the alarm history consistent */
        p->results_dropped++;
      }
    }
  }
  return (int)produced;
}

int tinypdm_pipeline_push(tinypdm_pipeline_t *p, const int16_t *samples, uint32_t n,
                          tinypdm_result_t *out, uint32_t max_out) {
  return push_strided(p, samples, n, 1u, out, max_out);
}

int tinypdm_pipeline_push_interleaved(tinypdm_pipeline_t *p, const int16_t *samples,
                                      uint32_t n_per_axis, uint32_t axes,
                                      tinypdm_result_t *out, uint32_t max_out) {
  if (axes <= (uint32_t)TINYPDM_FEATURE_AXIS) {
    return -1;
  }
  return push_strided(p, samples + TINYPDM_FEATURE_AXIS, n_per_axis, axes, out, max_out);
}

void tinypdm_result_to_score(const tinypdm_result_t *r, uint64_t t_us, tinypdm_score_msg_t *msg) {
  msg->t_us = t_us;
  msg->score = r->score;
  msg->threshold = r->threshold;
  msg->rms = r->rms;
  msg->kurtosis = r->kurtosis;
  msg->alarm = r->alarm;
  msg->over = r->over;
}

static void copy_padded(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  memset(dst, 0, cap);
  while (i < cap && src[i] != '\0') {
    dst[i] = src[i];
    ++i;
  }
}

void tinypdm_pipeline_hello(const tinypdm_pipeline_t *p, tinypdm_hello_t *hello) {
  memset(hello, 0, sizeof(*hello));
  hello->axes = 1;
  hello->flags = 1; /* scores on board */
  hello->samples_per_frame = 0;
  hello->sample_rate_hz = TINYPDM_SAMPLE_RATE_HZ;
  hello->scale = p->scale;
  copy_padded(hello->units, sizeof(hello->units), TINYPDM_UNITS);
  copy_padded(hello->firmware_version, sizeof(hello->firmware_version), TINYPDM_MODEL_VERSION);
  memcpy(hello->model_sha256, tinypdm_model_sha256, sizeof(hello->model_sha256));
}
