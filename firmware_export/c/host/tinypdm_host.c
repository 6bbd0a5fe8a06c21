/**
 * @file tinypdm_host.c
 * @brief Host-only entry points for tests and the Python scorer (ctypes): batch helpers
 *        and flat views of the library's structs. Not part of a firmware bundle.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model_data.h"
#include "tinypdm_features.h"
#include "tinypdm_frame.h"
#include "tinypdm_model.h"
#include "tinypdm_pipeline.h"
#include "tinypdm_score.h"
#include "tinypdm_speed.h"

/* prototypes (-Wmissing-prototypes friendly) */
uint32_t tinypdm_host_sizeof(uint32_t what);
void tinypdm_host_config(int64_t *out, uint32_t cap);
void tinypdm_host_invoke_batch(const int8_t *in, int8_t *out, uint32_t n);
void tinypdm_host_features_batch(const float *windows, uint32_t n, float *features, float *stats);
void tinypdm_host_score_batch(const float *features, const float *rpm, uint32_t n, float *scores,
                              float *z, int8_t *q_in, int8_t *q_out, uint8_t *top);
void tinypdm_host_alarm_run(const float *scores, const uint8_t *unknown, const uint8_t *ack,
                            uint32_t n, float threshold, uint8_t *states, uint8_t *flags);
int tinypdm_host_decoder_control(const tinypdm_frame_decoder_t *d, float *out);
void tinypdm_host_float_config(float *out, uint32_t cap);
size_t tinypdm_host_result_frame(const double *row, uint64_t t_us, uint32_t seq, uint8_t *out,
                                 size_t cap);
int tinypdm_host_pipeline_push(tinypdm_pipeline_t *p, const int16_t *samples, uint32_t n,
                               uint32_t axes, double *out, uint32_t max_out);
int tinypdm_host_decoder_feed(tinypdm_frame_decoder_t *d, const uint8_t *in, uint32_t n,
                              uint32_t *consumed);
void tinypdm_host_decoder_state(const tinypdm_frame_decoder_t *d, uint64_t *out);
const uint8_t *tinypdm_host_decoder_payload(const tinypdm_frame_decoder_t *d);
const int16_t *tinypdm_host_decoder_samples(const tinypdm_frame_decoder_t *d);
void tinypdm_host_speed_config(double *out, uint32_t cap);
uint32_t tinypdm_host_speed_decimate(const float *x, uint32_t n, float *out, uint32_t cap);
int tinypdm_host_speed_run(const float *x, uint32_t n, double *window_rpm, uint32_t max_windows,
                           double *at, double *raw, double *reported, uint32_t max_estimates,
                           float external_rpm);

/* columns of a tinypdm_host_pipeline_push row (host_build.RESULT_FIELDS must match) */
uint32_t tinypdm_host_result_cols(void);

uint32_t tinypdm_host_sizeof(uint32_t what) {
  switch (what) {
    case 0: return (uint32_t)sizeof(tinypdm_pipeline_t);
    case 1: return (uint32_t)sizeof(tinypdm_frame_decoder_t);
    case 2: return (uint32_t)sizeof(tinypdm_result_t);
    case 3: return (uint32_t)sizeof(tinypdm_hello_t);
    case 4: return (uint32_t)sizeof(tinypdm_score_msg_t);
    case 5: return (uint32_t)sizeof(tinypdm_speed_t);
    default: return 0u;
  }
}

/* window, hop, n_bands, n_features, axis, n_layers, alarm_k, alarm_n, input zp, output zp,
 * max hidden, scratch bytes, arena bytes, clear windows, min on windows, latch, velocity bin
 * lo, hi, protocol version */
void tinypdm_host_config(int64_t *out, uint32_t cap) {
  const int64_t v[] = {TINYPDM_WINDOW,         TINYPDM_HOP,           TINYPDM_N_BANDS,
                       TINYPDM_N_FEATURES,     TINYPDM_FEATURE_AXIS,  TINYPDM_N_LAYERS,
                       TINYPDM_ALARM_K,        TINYPDM_ALARM_N,       TINYPDM_INPUT_ZERO_POINT,
                       TINYPDM_OUTPUT_ZERO_POINT, TINYPDM_NN_MAX_HIDDEN, TINYPDM_NN_SCRATCH_BYTES,
                       TINYPDM_TFLM_ARENA_BYTES, TINYPDM_ALARM_CLEAR_WINDOWS,
                       TINYPDM_ALARM_MIN_ON_WINDOWS, TINYPDM_ALARM_LATCH, TINYPDM_VEL_BIN_LO,
                       TINYPDM_VEL_BIN_HI,     TINYPDM_PROTOCOL_VERSION};
  uint32_t i;
  for (i = 0; i < cap && i < sizeof(v) / sizeof(v[0]); ++i) {
    out[i] = v[i];
  }
}

/* clear ratio, units to m/s^2, velocity norm, zone limits A/B, B/C, C/D */
void tinypdm_host_float_config(float *out, uint32_t cap) {
  const float v[] = {TINYPDM_ALARM_CLEAR_RATIO, TINYPDM_UNITS_TO_MS2, TINYPDM_VEL_NORM,
                     TINYPDM_ISO_ZONE_AB,       TINYPDM_ISO_ZONE_BC,  TINYPDM_ISO_ZONE_CD};
  uint32_t i;
  for (i = 0; i < cap && i < sizeof(v) / sizeof(v[0]); ++i) {
    out[i] = v[i];
  }
}

void tinypdm_host_alarm_run(const float *scores, const uint8_t *unknown, const uint8_t *ack,
                            uint32_t n, float threshold, uint8_t *states, uint8_t *flags) {
  tinypdm_alarm_t a;
  uint32_t i;
  tinypdm_alarm_init(&a);
  for (i = 0; i < n; ++i) {
    if (ack[i]) {
      (void)tinypdm_alarm_acknowledge(&a);
    }
    states[i] = tinypdm_alarm_step(&a, scores[i], threshold, unknown[i]);
    flags[i] = a.latched ? TINYPDM_FLAG_LATCHED : 0u;
  }
}

/* a SCORE frame through tinypdm_result_to_score from a result row (host pipeline columns) */
size_t tinypdm_host_result_frame(const double *row, uint64_t t_us, uint32_t seq, uint8_t *out,
                                 size_t cap) {
  tinypdm_result_t r;
  tinypdm_score_msg_t msg;
  memset(&r, 0, sizeof(r));
  r.sample_index = (uint64_t)row[0];
  r.score = (float)row[1];
  r.threshold = (float)row[2];
  r.rms = (float)row[3];
  r.kurtosis = (float)row[4];
  r.crest = (float)row[5];
  r.over = (uint8_t)row[6];
  r.alarm = (uint8_t)row[7];
  r.state = (uint8_t)row[8];
  r.flags = (uint8_t)row[9];
  r.speed_rpm = (float)row[10];
  r.velocity_rms_mm_s = (float)row[11];
  r.iso_zone = (uint8_t)row[12];
  r.top_feature_1 = (uint8_t)row[13];
  r.top_feature_2 = (uint8_t)row[14];
  memset(&msg, 0xA5, sizeof(msg)); /* every field must be written */
  tinypdm_result_to_score(&r, t_us, &msg);
  return tinypdm_frame_encode_score(out, cap, &seq, &msg);
}

/* command, value of the decoder's last frame; 0 when it is not CONTROL */
int tinypdm_host_decoder_control(const tinypdm_frame_decoder_t *d, float *out) {
  tinypdm_control_t c;
  if (!tinypdm_frame_decode_control(d, &c)) {
    return 0;
  }
  out[0] = (float)c.command;
  out[1] = c.value;
  return 1;
}

void tinypdm_host_invoke_batch(const int8_t *in, int8_t *out, uint32_t n) {
  uint32_t i;
  for (i = 0; i < n; ++i) {
    tinypdm_model_invoke(in + (size_t)i * TINYPDM_N_INPUTS, out + (size_t)i * TINYPDM_N_OUTPUTS);
  }
}

void tinypdm_host_features_batch(const float *windows, uint32_t n, float *features, float *stats) {
  static float work[TINYPDM_WINDOW];
  uint32_t i;
  for (i = 0; i < n; ++i) {
    tinypdm_window_stats_t st;
    memcpy(work, windows + (size_t)i * TINYPDM_WINDOW, sizeof(work));
    tinypdm_features_compute(work, features + (size_t)i * TINYPDM_N_FEATURES, &st);
    if (stats != NULL) {
      float *s = stats + (size_t)i * 6u;
      s[0] = st.mean;
      s[1] = st.m2;
      s[2] = st.rms;
      s[3] = st.kurtosis;
      s[4] = st.crest;
      s[5] = st.velocity;
    }
  }
}

/* rpm: one speed per vector, or NULL (unknown speed: tinypdm_score_features) */
void tinypdm_host_score_batch(const float *features, const float *rpm, uint32_t n, float *scores,
                              float *z, int8_t *q_in, int8_t *q_out, uint8_t *top) {
  uint32_t i;
  for (i = 0; i < n; ++i) {
    tinypdm_score_trace_t t;
    const size_t o = (size_t)i * TINYPDM_N_FEATURES;
    scores[i] = rpm != NULL ? tinypdm_score_features_at(features + o, rpm[i], &t)
                            : tinypdm_score_features(features + o, &t);
    if (z != NULL) {
      memcpy(z + o, t.z, sizeof(t.z));
    }
    if (q_in != NULL) {
      memcpy(q_in + o, t.q_in, sizeof(t.q_in));
    }
    if (q_out != NULL) {
      memcpy(q_out + o, t.q_out, sizeof(t.q_out));
    }
    if (top != NULL) {
      top[2u * i] = t.top[0];
      top[2u * i + 1u] = t.top[1];
    }
  }
}

/* axes 0: samples are the scored axis alone; else n frames of `axes` interleaved values.
 * Results flattened (TINYPDM_HOST_RESULT_COLS per window): sample_index, score, threshold, rms,
 * kurtosis, crest, over, alarm, state, flags, speed_rpm, velocity_rms_mm_s, iso_zone,
 * top_feature_1, top_feature_2 */
#define TINYPDM_HOST_RESULT_COLS 15u
uint32_t tinypdm_host_result_cols(void) { return TINYPDM_HOST_RESULT_COLS; }

int tinypdm_host_pipeline_push(tinypdm_pipeline_t *p, const int16_t *samples, uint32_t n,
                               uint32_t axes, double *out, uint32_t max_out) {
  tinypdm_result_t r[8];
  int total = 0;
  uint32_t done = 0;
  while (done < n) {
    /* at most 8 results per call of TINYPDM_HOP * 8 samples */
    uint32_t chunk = n - done;
    int got;
    int k;
    if (chunk > (uint32_t)TINYPDM_HOP * 7u) {
      chunk = (uint32_t)TINYPDM_HOP * 7u;
    }
    if (axes == 0u) { /* the scored axis alone */
      got = tinypdm_pipeline_push(p, samples + done, chunk, r, 8u);
    } else {
      got = tinypdm_pipeline_push_interleaved(p, samples + (size_t)done * axes, chunk, axes, r, 8u);
    }
    if (got < 0) {
      return got;
    }
    for (k = 0; k < got; ++k) {
      if ((uint32_t)total < max_out) {
        double *o = out + (size_t)total * TINYPDM_HOST_RESULT_COLS;
        o[0] = (double)r[k].sample_index;
        o[1] = (double)r[k].score;
        o[2] = (double)r[k].threshold;
        o[3] = (double)r[k].rms;
        o[4] = (double)r[k].kurtosis;
        o[5] = (double)r[k].crest;
        o[6] = r[k].over;
        o[7] = r[k].alarm;
        o[8] = r[k].state;
        o[9] = r[k].flags;
        o[10] = (double)r[k].speed_rpm;
        o[11] = (double)r[k].velocity_rms_mm_s;
        o[12] = r[k].iso_zone;
        o[13] = r[k].top_feature_1;
        o[14] = r[k].top_feature_2;
      }
      total++;
    }
    done += chunk;
  }
  return total;
}

int tinypdm_host_decoder_feed(tinypdm_frame_decoder_t *d, const uint8_t *in, uint32_t n,
                              uint32_t *consumed) {
  uint32_t i;
  for (i = 0; i < n; ++i) {
    const int t = tinypdm_frame_decoder_push(d, in[i]);
    if (t != 0) {
      *consumed = i + 1u;
      return t;
    }
  }
  *consumed = n;
  return 0;
}

/* counters (8), then type, length, seq, t_us, n, axes of the last frame */
void tinypdm_host_decoder_state(const tinypdm_frame_decoder_t *d, uint64_t *out) {
  out[0] = d->counters.frames;
  out[1] = d->counters.crc_errors;
  out[2] = d->counters.resyncs;
  out[3] = d->counters.dropped_frames;
  out[4] = d->counters.oversize;
  out[5] = d->counters.unknown;
  out[6] = d->counters.wrong_version;
  out[7] = d->counters.reboots;
  out[8] = d->type;
  out[9] = d->length;
  out[10] = d->seq;
  out[11] = d->t_us;
  out[12] = d->n;
  out[13] = d->axes;
}

const uint8_t *tinypdm_host_decoder_payload(const tinypdm_frame_decoder_t *d) { return d->payload; }

const int16_t *tinypdm_host_decoder_samples(const tinypdm_frame_decoder_t *d) { return d->samples; }

/* enabled, q, taps per phase, r, q2, buffer, hop, median, harmonics, cand_first, n_cand, max_bin,
 * rpm_per_step, decimated rate */
void tinypdm_host_speed_config(double *out, uint32_t cap) {
  const double v[] = {TINYPDM_SPEED_ENABLED,     TINYPDM_SPEED_Q,         TINYPDM_SPEED_TAPS_PER_PHASE,
                      TINYPDM_SPEED_R,           TINYPDM_SPEED_Q2,
                      TINYPDM_SPEED_BUFFER,      TINYPDM_SPEED_HOP,       TINYPDM_SPEED_MEDIAN,
                      TINYPDM_SPEED_HARMONICS,   TINYPDM_SPEED_CAND_FIRST, TINYPDM_SPEED_N_CAND,
                      TINYPDM_SPEED_MAX_BIN,     (double)TINYPDM_SPEED_RPM_PER_STEP,
                      (double)TINYPDM_SPEED_RATE_HZ};
  uint32_t i;
  for (i = 0; i < cap && i < sizeof(v) / sizeof(v[0]); ++i) {
    out[i] = v[i];
  }
}

/* A standalone estimator over float samples (physical units), the pipeline's way: the
 * estimate runs in a TINYPDM_WINDOW work buffer as soon as it is due. window_rpm gets
 * tinypdm_speed_rpm after the last sample of every window of the TINYPDM_WINDOW /
 * TINYPDM_HOP grid; at/raw/reported every estimate (sample index, single estimate,
 * running median). external_rpm > 0 is set before the first sample. Returns the number of
 * estimates. */
int tinypdm_host_speed_run(const float *x, uint32_t n, double *window_rpm, uint32_t max_windows,
                           double *at, double *raw, double *reported, uint32_t max_estimates,
                           float external_rpm) {
  static tinypdm_speed_t s;
  static float work[TINYPDM_WINDOW];
  uint32_t i;
  uint32_t w = 0;
  int estimates = 0;
  tinypdm_speed_init(&s);
  if (external_rpm > 0.0f) {
    tinypdm_speed_set_external(&s, external_rpm);
  }
  for (i = 0; i < n; ++i) {
    if (tinypdm_speed_push(&s, x[i])) {
      tinypdm_speed_update(&s, work);
      if ((uint32_t)estimates < max_estimates) {
        at[estimates] = (double)i;
        raw[estimates] = (double)s.history[(s.n_estimates - 1u) % TINYPDM_SPEED_MEDIAN];
        reported[estimates] = (double)s.rpm;
      }
      estimates++;
    }
    if (i + 1u >= TINYPDM_WINDOW && (i + 1u - TINYPDM_WINDOW) % TINYPDM_HOP == 0u) {
      if (w < max_windows) {
        window_rpm[w] = (double)tinypdm_speed_rpm(&s);
      }
      w++;
    }
  }
  return estimates;
}

/* The decimated samples a fresh estimator produces from x (no estimates run). */
uint32_t tinypdm_host_speed_decimate(const float *x, uint32_t n, float *out, uint32_t cap) {
  static tinypdm_speed_t s;
  uint32_t i;
  uint32_t m = 0;
  tinypdm_speed_init(&s);
  for (i = 0; i < n; ++i) {
    const uint32_t head = s.head;
    (void)tinypdm_speed_push(&s, x[i]);
    s.due = 0u;
    if (s.head != head || (TINYPDM_SPEED_BUFFER == 1 && s.filled > m)) {
      if (m < cap) {
        out[m] = s.ring[head];
      }
      m++;
    }
  }
  return m;
}
