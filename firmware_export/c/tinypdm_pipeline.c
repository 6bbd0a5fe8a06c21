/**
 * @file tinypdm_pipeline.c
 * @brief Ring buffer of samples, a scored window every hop.
 */
#include "tinypdm_pipeline.h"

#include <math.h>
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
  p->units_to_ms2 = TINYPDM_UNITS_TO_MS2;
  tinypdm_alarm_init(&p->alarm);
  tinypdm_speed_init(&p->speed);
}

void tinypdm_pipeline_set_speed(tinypdm_pipeline_t *p, float rpm) {
  tinypdm_speed_set_external(&p->speed, rpm); /* <= 0 or NaN: back to the tachless estimate */
}

void tinypdm_pipeline_set_scale(tinypdm_pipeline_t *p, float units_per_lsb) {
  p->scale = units_per_lsb;
}

static int units_equal(const char *units, const char *name) {
  size_t i = 0;
  for (; i < 8u; ++i) {
    if (units[i] != name[i]) {
      return 0;
    }
    if (name[i] == '\0') {
      return 1;
    }
  }
  return 1;
}

float tinypdm_units_to_ms2(const char *units) {
  if (units_equal(units, "g")) {
    return 9.80665f;
  }
  if (units_equal(units, "m/s2") || units_equal(units, "m/s^2")) {
    return 1.0f;
  }
  return 0.0f;
}

void tinypdm_pipeline_set_units(tinypdm_pipeline_t *p, const char *units) {
  p->units_to_ms2 = tinypdm_units_to_ms2(units);
}

uint8_t tinypdm_pipeline_acknowledge(tinypdm_pipeline_t *p) {
  return tinypdm_alarm_acknowledge(&p->alarm);
}

int tinypdm_pipeline_control(tinypdm_pipeline_t *p, const tinypdm_control_t *control) {
  switch (control->command) {
    case TINYPDM_CONTROL_ACKNOWLEDGE:
      (void)tinypdm_pipeline_acknowledge(p);
      return 1;
    case TINYPDM_CONTROL_SET_SPEED:
      tinypdm_speed_set_external(&p->speed, control->value); /* <= 0 or NaN: tachless */
      return 1;
    default:
      return 0;
  }
}

/* ISO zone of a velocity in mm/s: a value on a boundary belongs to the better zone. */
static uint8_t iso_zone(float v) {
  if (!(v == v) || TINYPDM_ISO_ZONE_AB <= 0.0f) {
    return 0u;
  }
  if (v <= TINYPDM_ISO_ZONE_AB) {
    return 1u;
  }
  if (v <= TINYPDM_ISO_ZONE_BC) {
    return 2u;
  }
  return v <= TINYPDM_ISO_ZONE_CD ? 3u : 4u;
}

static void score_window(tinypdm_pipeline_t *p, tinypdm_result_t *r) {
  float features[TINYPDM_N_FEATURES];
  tinypdm_window_stats_t stats;
  tinypdm_score_trace_t trace;
  uint32_t i;
  uint32_t src = p->head; /* oldest sample */
  for (i = 0; i < TINYPDM_WINDOW; ++i) {
    p->work[i] = (float)p->ring[src] * p->scale;
    src = src + 1u == TINYPDM_WINDOW ? 0u : src + 1u;
  }
  tinypdm_features_compute(p->work, features, &stats);
  r->sample_index = p->n_samples - 1u;
  const float rpm = tinypdm_speed_rpm(&p->speed); /* speed at the window's last sample */
  const uint8_t unknown = tinypdm_unknown_operating_point(rpm);
  r->score = tinypdm_score_features_at(features, rpm, &trace);
  r->threshold = p->threshold;
  r->rms = stats.rms;
  r->kurtosis = stats.kurtosis;
  r->crest = stats.crest;
  r->speed_rpm = rpm;
  r->velocity_rms_mm_s =
      p->units_to_ms2 > 0.0f ? stats.velocity * p->units_to_ms2 * 1000.0f : NAN;
  r->iso_zone = iso_zone(r->velocity_rms_mm_s);
  r->top_feature_1 = trace.top[0];
  r->top_feature_2 = trace.top[1];
  /* unknown operating point: state 3, neither over nor under (the lifecycle does not advance) */
  r->state = tinypdm_alarm_step(&p->alarm, r->score, p->threshold, unknown);
  r->over = r->state != TINYPDM_STATE_UNKNOWN && r->score > p->threshold ? 1u : 0u;
  r->alarm = r->state == TINYPDM_STATE_ALARM ? 1u : 0u;
  r->flags = (uint8_t)((unknown ? TINYPDM_FLAG_UNKNOWN_OP : 0u) |
                       (p->speed.external == p->speed.external ? TINYPDM_FLAG_EXTERNAL_SPEED : 0u) |
                       (p->alarm.latched ? TINYPDM_FLAG_LATCHED : 0u));
}

static int push_strided(tinypdm_pipeline_t *p, const int16_t *samples, uint32_t n,
                        uint32_t stride, tinypdm_result_t *out, uint32_t max_out) {
  uint32_t produced = 0;
  uint32_t i = 0;
  while (i < n) {
    /* up to the next window's last sample: the speed it reports has seen exactly these */
    const uint32_t seg = n - i < p->until_next ? n - i : p->until_next;
    const int16_t *src = samples + (size_t)i * stride;
    uint32_t k;
    for (k = 0; k < seg; ++k) {
      p->ring[p->head] = src[(size_t)k * stride];
      p->head = p->head + 1u == TINYPDM_WINDOW ? 0u : p->head + 1u;
    }
    /* work is free between windows: due speed estimates run in it */
    tinypdm_speed_push_int16(&p->speed, src, seg, stride, p->scale, p->work);
    p->n_samples += seg;
    i += seg;
    p->until_next -= seg;
    if (p->until_next == 0u) {
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
  msg->state = r->state;
  msg->flags = r->flags;
  msg->speed_rpm = r->speed_rpm;
  msg->velocity_rms_mm_s = r->velocity_rms_mm_s;
  msg->iso_zone = r->iso_zone;
  msg->top_feature_1 = r->top_feature_1;
  msg->top_feature_2 = r->top_feature_2;
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
