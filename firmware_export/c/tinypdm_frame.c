/**
 * @file tinypdm_frame.c
 * @brief docs/protocol.md: CRC-32, COBS, encoders, incremental decoder.
 */
#include "tinypdm_frame.h"

#include <string.h>

/* ---- CRC-32/ISO-HDLC, reflected, 16-entry nibble table (64 bytes of flash) ---- */

static const uint32_t s_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
    0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu};

uint32_t tinypdm_crc32_update(uint32_t crc, const uint8_t *data, size_t n) {
  size_t i;
  crc = ~crc;
  for (i = 0; i < n; ++i) {
    crc ^= data[i];
    crc = (crc >> 4) ^ s_crc_nibble[crc & 0x0Fu];
    crc = (crc >> 4) ^ s_crc_nibble[crc & 0x0Fu];
  }
  return ~crc;
}

uint32_t tinypdm_crc32(const uint8_t *data, size_t n) { return tinypdm_crc32_update(0u, data, n); }

/* ---- COBS ---- */

size_t tinypdm_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  size_t code_pos = 0;
  size_t o = 1;
  uint8_t code = 1;
  size_t i;
  if (cap < 1u) {
    return 0;
  }
  for (i = 0; i < n; ++i) {
    const uint8_t byte = in[i];
    if (byte == 0u) {
      out[code_pos] = code;
      if (o >= cap) {
        return 0;
      }
      code_pos = o++;
      code = 1;
    } else {
      if (o >= cap) {
        return 0;
      }
      out[o++] = byte;
      if (++code == 0xFFu && i + 1u < n) {
        /* a full block of 254 bytes; a final one needs no empty block after it */
        out[code_pos] = code;
        if (o >= cap) {
          return 0;
        }
        code_pos = o++;
        code = 1;
      }
    }
  }
  out[code_pos] = code;
  return o;
}

size_t tinypdm_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap) {
  size_t i = 0;
  size_t o = 0;
  if (n == 0u) {
    return (size_t)-1;
  }
  while (i < n) {
    const uint8_t code = in[i];
    size_t end;
    if (code == 0u) {
      return (size_t)-1;
    }
    end = i + code;
    if (end > n) {
      return (size_t)-1;
    }
    for (++i; i < end; ++i) {
      if (in[i] == 0u || o >= cap) {
        return (size_t)-1;
      }
      out[o++] = in[i];
    }
    if (end < n && code != 0xFFu) {
      if (o >= cap) {
        return (size_t)-1;
      }
      out[o++] = 0u;
    }
  }
  return o;
}

/* ---- little-endian helpers ---- */

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v & 0xFFu);
  p[1] = (uint8_t)((v >> 8) & 0xFFu);
  p[2] = (uint8_t)((v >> 16) & 0xFFu);
  p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)(v & 0xFFFFFFFFu));
  put_u32(p + 4, (uint32_t)(v >> 32));
}

static void put_f32(uint8_t *p, float f) {
  uint32_t v;
  memcpy(&v, &f, sizeof(v));
  put_u32(p, v);
}

static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static float get_f32(const uint8_t *p) {
  const uint32_t v = get_u32(p);
  float f;
  memcpy(&f, &v, sizeof(f));
  return f;
}

/* ---- encoders ---- */

/* The raw frame is built inside out[], far enough ahead that COBS can encode it in place:
 * after reading i bytes the encoder has written at most i + 1 + i / 254. */
static size_t cobs_room(size_t raw_len) { return raw_len / 254u + 1u; }

static uint8_t *frame_begin(uint8_t *out, size_t cap, uint8_t type, uint16_t length,
                            uint32_t seq) {
  const size_t raw_len = TINYPDM_FRAME_HEADER_BYTES + (size_t)length + 4u;
  const size_t off = cobs_room(raw_len);
  uint8_t *raw;
  if (length > TINYPDM_FRAME_MAX_PAYLOAD || cap < off + raw_len + 1u) {
    return NULL;
  }
  raw = out + off;
  raw[0] = (uint8_t)TINYPDM_PROTOCOL_VERSION;
  raw[1] = type;
  put_u16(raw + 2, length);
  put_u32(raw + 4, seq);
  return raw;
}

static size_t frame_end(uint8_t *out, size_t cap, uint32_t *seq, uint8_t *raw, uint16_t length) {
  const size_t body = TINYPDM_FRAME_HEADER_BYTES + (size_t)length;
  size_t n;
  put_u32(raw + body, tinypdm_crc32(raw, body));
  n = tinypdm_cobs_encode(raw, body + 4u, out, cap - 1u);
  if (n == 0u) {
    return 0;
  }
  out[n] = 0u;
  *seq += 1u;
  return n + 1u;
}

size_t tinypdm_frame_encode(uint8_t *out, size_t cap, uint32_t *seq, uint8_t type,
                            const uint8_t *payload, uint16_t length) {
  uint8_t *raw = frame_begin(out, cap, type, length, *seq);
  if (raw == NULL) {
    return 0;
  }
  if (length > 0u) {
    memmove(raw + TINYPDM_FRAME_HEADER_BYTES, payload, length);
  }
  return frame_end(out, cap, seq, raw, length);
}

static void put_text(uint8_t *p, const char *s, size_t size) {
  size_t i = 0;
  memset(p, 0, size);
  while (i < size && s[i] != '\0') {
    p[i] = (uint8_t)s[i];
    ++i;
  }
}

size_t tinypdm_frame_encode_hello(uint8_t *out, size_t cap, uint32_t *seq,
                                  const tinypdm_hello_t *h) {
  uint8_t *raw = frame_begin(out, cap, TINYPDM_FRAME_HELLO, TINYPDM_HELLO_BYTES, *seq);
  uint8_t *p;
  if (raw == NULL) {
    return 0;
  }
  p = raw + TINYPDM_FRAME_HEADER_BYTES;
  p[0] = h->axes;
  p[1] = h->flags;
  put_u16(p + 2, h->samples_per_frame);
  put_f32(p + 4, h->sample_rate_hz);
  put_f32(p + 8, h->scale);
  put_text(p + 12, h->units, sizeof(h->units));
  put_text(p + 20, h->device_id, sizeof(h->device_id));
  put_text(p + 36, h->firmware_version, sizeof(h->firmware_version));
  memcpy(p + 52, h->model_sha256, sizeof(h->model_sha256));
  return frame_end(out, cap, seq, raw, TINYPDM_HELLO_BYTES);
}

size_t tinypdm_frame_encode_score(uint8_t *out, size_t cap, uint32_t *seq,
                                  const tinypdm_score_msg_t *m) {
  uint8_t *raw = frame_begin(out, cap, TINYPDM_FRAME_SCORE, TINYPDM_SCORE_BYTES, *seq);
  uint8_t *p;
  if (raw == NULL) {
    return 0;
  }
  p = raw + TINYPDM_FRAME_HEADER_BYTES;
  put_u64(p, m->t_us);
  put_f32(p + 8, m->score);
  put_f32(p + 12, m->threshold);
  put_f32(p + 16, m->rms);
  put_f32(p + 20, m->kurtosis);
  p[24] = m->alarm != 0u ? 1u : 0u;
  p[25] = m->over != 0u ? 1u : 0u;
#if TINYPDM_PROTOCOL_VERSION >= 2
  p[26] = m->state;
  p[27] = m->flags;
  put_f32(p + 28, m->speed_rpm);
  put_f32(p + 32, m->velocity_rms_mm_s);
  p[36] = m->iso_zone;
  p[37] = m->top_feature_1;
  p[38] = m->top_feature_2;
  p[39] = 0u;
#else
  put_u16(p + 26, 0u);
#endif
  return frame_end(out, cap, seq, raw, TINYPDM_SCORE_BYTES);
}

size_t tinypdm_frame_encode_control(uint8_t *out, size_t cap, uint32_t *seq,
                                    const tinypdm_control_t *control) {
  uint8_t *raw = frame_begin(out, cap, TINYPDM_FRAME_CONTROL, TINYPDM_CONTROL_BYTES, *seq);
  uint8_t *p;
  if (raw == NULL) {
    return 0;
  }
  p = raw + TINYPDM_FRAME_HEADER_BYTES;
  p[0] = control->command;
  p[1] = 0u;
  p[2] = 0u;
  p[3] = 0u;
  put_f32(p + 4, control->value);
  return frame_end(out, cap, seq, raw, TINYPDM_CONTROL_BYTES);
}

size_t tinypdm_frame_encode_samples(uint8_t *out, size_t cap, uint32_t *seq, uint64_t t_us,
                                    const int16_t *samples, uint16_t n, uint8_t axes) {
  const uint32_t values = (uint32_t)n * axes;
  uint16_t length;
  uint8_t *raw;
  uint8_t *p;
  uint32_t i;
  if (axes < 1u || axes > 8u || values > TINYPDM_FRAME_MAX_SAMPLES) {
    return 0;
  }
  length = (uint16_t)(TINYPDM_SAMPLES_HEADER_BYTES + 2u * values);
  raw = frame_begin(out, cap, TINYPDM_FRAME_SAMPLES, length, *seq);
  if (raw == NULL) {
    return 0;
  }
  p = raw + TINYPDM_FRAME_HEADER_BYTES;
  put_u64(p, t_us);
  put_u16(p + 8, n);
  p[10] = axes;
  p[11] = 0u;
  for (i = 0; i < values; ++i) {
    put_u16(p + 12 + 2u * i, (uint16_t)samples[i]);
  }
  return frame_end(out, cap, seq, raw, length);
}

size_t tinypdm_frame_encode_text(uint8_t *out, size_t cap, uint32_t *seq, uint8_t level,
                                 const char *text, size_t m) {
  uint8_t *raw;
  if (m > TINYPDM_TEXT_MAX || level > 3u) {
    return 0;
  }
  raw = frame_begin(out, cap, TINYPDM_FRAME_TEXT, (uint16_t)(1u + m), *seq);
  if (raw == NULL) {
    return 0;
  }
  raw[TINYPDM_FRAME_HEADER_BYTES] = level;
  if (m > 0u) {
    memcpy(raw + TINYPDM_FRAME_HEADER_BYTES + 1, text, m);
  }
  return frame_end(out, cap, seq, raw, (uint16_t)(1u + m));
}

/* ---- decoder ---- */

void tinypdm_frame_decoder_init(tinypdm_frame_decoder_t *d) {
  memset(d, 0, sizeof(*d));
  d->in_sync = 1u;
}

static void lost_sync(tinypdm_frame_decoder_t *d) {
  if (d->in_sync) {
    d->in_sync = 0u;
    d->counters.resyncs++;
  }
}

static int bad_chunk(tinypdm_frame_decoder_t *d) {
  d->counters.crc_errors++;
  lost_sync(d);
  return 0;
}

/* 1 when the payload of a known type matches its layout (vibration.protocol.frames). */
static int layout_ok(uint8_t version, uint8_t type, const uint8_t *p, uint16_t length) {
  switch (type) {
    case TINYPDM_FRAME_SAMPLES: {
      uint32_t n;
      uint32_t axes;
      if (length < TINYPDM_SAMPLES_HEADER_BYTES) {
        return 0;
      }
      n = get_u16(p + 8);
      axes = p[10];
      return axes >= 1u && axes <= 8u && length == TINYPDM_SAMPLES_HEADER_BYTES + 2u * n * axes;
    }
    case TINYPDM_FRAME_SCORE:
      return length == (version >= 2u ? TINYPDM_SCORE_V2_BYTES : TINYPDM_SCORE_V1_BYTES);
    case TINYPDM_FRAME_CONTROL:
      return length == TINYPDM_CONTROL_BYTES;
    case TINYPDM_FRAME_HELLO:
      return length == TINYPDM_HELLO_BYTES && p[0] >= 1u && p[0] <= 8u;
    case TINYPDM_FRAME_TEXT:
      return length >= 1u && length <= 1u + TINYPDM_TEXT_MAX;
    default:
      return 1;
  }
}

static int finish_chunk(tinypdm_frame_decoder_t *d) {
  uint8_t *b = d->buf.bytes;
  size_t n = tinypdm_cobs_decode(b, d->len, b, sizeof(d->buf.bytes));
  uint8_t type;
  uint16_t length;
  uint32_t seq;
  uint32_t gap;
  const uint8_t *payload;
  if (n == (size_t)-1 || n < TINYPDM_FRAME_HEADER_BYTES + 4u) {
    return bad_chunk(d);
  }
  if (tinypdm_crc32(b, n - 4u) != get_u32(b + n - 4u)) {
    return bad_chunk(d);
  }
  if (b[0] < TINYPDM_PROTOCOL_VERSION_MIN || b[0] > TINYPDM_PROTOCOL_VERSION_MAX) {
    d->counters.wrong_version++;
    return 0;
  }
  type = b[1];
  length = get_u16(b + 2);
  seq = get_u32(b + 4);
  payload = b + TINYPDM_FRAME_HEADER_BYTES;
  if ((size_t)length + TINYPDM_FRAME_HEADER_BYTES + 4u != n || !layout_ok(b[0], type, payload, length)) {
    return bad_chunk(d);
  }
  d->counters.frames++;
  d->in_sync = 1u;
  if (d->have_seq) {
    gap = seq - d->last_seq;
    if (seq == 0u && type == TINYPDM_FRAME_HELLO) {
      d->counters.reboots++;
    } else if (gap >= 0x80000000u) {
      d->counters.reboots++;
    } else if (gap > 1u) {
      d->counters.dropped_frames += gap - 1u;
    }
  }
  d->have_seq = 1u;
  d->last_seq = seq;
  if (type < TINYPDM_FRAME_HELLO || type > TINYPDM_FRAME_CONTROL) {
    d->counters.unknown++;
    return 0;
  }
  d->type = type;
  d->length = length;
  d->seq = seq;
  d->version = b[0];
  d->payload = payload;
  if (type == TINYPDM_FRAME_SAMPLES) {
    /* payload starts at offset 8, samples at byte 20 = int16 index 10 of the union */
    const uint8_t *s = b + TINYPDM_FRAME_HEADER_BYTES + TINYPDM_SAMPLES_HEADER_BYTES;
    int16_t *dst = &d->buf.i16[(TINYPDM_FRAME_HEADER_BYTES + TINYPDM_SAMPLES_HEADER_BYTES) / 2u];
    uint32_t count;
    uint32_t i;
    d->t_us = (uint64_t)get_u32(payload) | ((uint64_t)get_u32(payload + 4) << 32);
    d->n = get_u16(payload + 8);
    d->axes = payload[10];
    count = (uint32_t)d->n * d->axes;
    for (i = 0; i < count; ++i) {
      const uint16_t v = get_u16(s + 2u * i);
      memcpy(&dst[i], &v, sizeof(v)); /* same bytes, host order */
    }
    d->samples = dst;
  } else {
    d->t_us = 0u;
    d->n = 0u;
    d->axes = 0u;
    d->samples = NULL;
  }
  return (int)type;
}

int tinypdm_frame_decode_control(const tinypdm_frame_decoder_t *d, tinypdm_control_t *control) {
  if (d->type != TINYPDM_FRAME_CONTROL || d->payload == NULL) {
    return 0;
  }
  control->command = d->payload[0];
  control->value = get_f32(d->payload + 4);
  return 1;
}

int tinypdm_frame_decoder_push(tinypdm_frame_decoder_t *d, uint8_t byte) {
  if (byte == 0u) {
    int result = 0;
    if (!d->discarding && d->len > 0u) {
      result = finish_chunk(d);
    }
    d->discarding = 0u;
    d->len = 0u;
    return result;
  }
  if (d->discarding) {
    return 0;
  }
  if (d->len >= TINYPDM_FRAME_MAX_ENCODED - 1u) {
    d->counters.oversize++;
    lost_sync(d);
    d->discarding = 1u;
    d->len = 0u;
    return 0;
  }
  d->buf.bytes[d->len++] = byte;
  return 0;
}
