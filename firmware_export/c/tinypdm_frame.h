/**
 * @file tinypdm_frame.h
 * @brief Serial protocol v2 (docs/protocol.md): CRC-32, COBS, frame encoders and an
 *        incremental decoder.
 *
 * wire = COBS(header | payload | crc32) 0x00; all fields little-endian. Independent of
 * the model: needs no generated header. Encoders write a complete wire frame (delimiter
 * included) into a caller buffer and return its length, 0 when it does not fit.
 * The decoder takes one byte at a time (e.g. from a UART interrupt) and reports complete
 * frames; SAMPLES frames are decoded into int16 samples in place.
 */
#ifndef TINYPDM_FRAME_H
#define TINYPDM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The version written into every frame; build with -DTINYPDM_PROTOCOL_VERSION=1 for
 *  receivers that only know version 1 (SCORE then carries the 28-byte v1 payload). */
#ifndef TINYPDM_PROTOCOL_VERSION
#define TINYPDM_PROTOCOL_VERSION 2u
#endif
/** Versions the decoder accepts. */
#define TINYPDM_PROTOCOL_VERSION_MIN 1u
#define TINYPDM_PROTOCOL_VERSION_MAX 2u
#define TINYPDM_FRAME_HELLO 0x01u
#define TINYPDM_FRAME_SAMPLES 0x02u
#define TINYPDM_FRAME_SCORE 0x03u
#define TINYPDM_FRAME_TEXT 0x04u
#define TINYPDM_FRAME_CONTROL 0x05u

#define TINYPDM_FRAME_HEADER_BYTES 8u
#define TINYPDM_FRAME_MAX_PAYLOAD 2048u
/** header + payload + CRC */
#define TINYPDM_FRAME_MAX_DECODED (TINYPDM_FRAME_HEADER_BYTES + TINYPDM_FRAME_MAX_PAYLOAD + 4u)
/** COBS adds at most 1 byte per 254, plus 1; then the 0x00 delimiter */
#define TINYPDM_FRAME_MAX_ENCODED (TINYPDM_FRAME_MAX_DECODED + TINYPDM_FRAME_MAX_DECODED / 254u + 2u)
/** worst case wire size of a frame with a payload of n bytes */
#define TINYPDM_FRAME_WIRE_SIZE(n) ((n) + 12u + ((n) + 12u) / 254u + 2u)
#define TINYPDM_HELLO_BYTES 84u
#define TINYPDM_SCORE_V1_BYTES 28u
#define TINYPDM_SCORE_V2_BYTES 40u
#if TINYPDM_PROTOCOL_VERSION >= 2
#define TINYPDM_SCORE_BYTES TINYPDM_SCORE_V2_BYTES
#else
#define TINYPDM_SCORE_BYTES TINYPDM_SCORE_V1_BYTES
#endif
#define TINYPDM_CONTROL_BYTES 8u
/** CONTROL commands */
#define TINYPDM_CONTROL_SET_SPEED 1u
#define TINYPDM_CONTROL_ACKNOWLEDGE 2u
#define TINYPDM_SAMPLES_HEADER_BYTES 12u
/** most int16 values one SAMPLES frame can hold */
#define TINYPDM_FRAME_MAX_SAMPLES ((TINYPDM_FRAME_MAX_PAYLOAD - TINYPDM_SAMPLES_HEADER_BYTES) / 2u)
#define TINYPDM_TEXT_MAX 255u

/** @brief HELLO payload (84 bytes on the wire). Strings are NUL-padded, not terminated. */
typedef struct {
  uint8_t axes;               /**< 1..8 */
  uint8_t flags;              /**< bit 0: scores on board, bit 1: streams SAMPLES */
  uint16_t samples_per_frame; /**< nominal samples per axis in a SAMPLES frame */
  float sample_rate_hz;       /**< nominal */
  float scale;                /**< physical units per LSB */
  char units[8];              /**< ASCII, e.g. "g" */
  char device_id[16];         /**< ASCII */
  char firmware_version[16];  /**< ASCII */
  uint8_t model_sha256[32];   /**< SHA-256 of the model's .tflite, all zero: no model */
} tinypdm_hello_t;

/** @brief SCORE payload (v2: 40 bytes on the wire; v1: the first 28). */
typedef struct {
  uint64_t t_us;           /**< device time of the window's last sample */
  float score;             /**< anomaly score */
  float threshold;         /**< threshold compared against */
  float rms;               /**< RMS of the window */
  float kurtosis;          /**< kurtosis of the window */
  uint8_t alarm;           /**< the alarm is raised */
  uint8_t over;            /**< this window exceeds the threshold */
  uint8_t state;           /**< v2: 0 ok, 1 over, 2 alarm, 3 unknown operating point */
  uint8_t flags;           /**< v2: bit 0 unknown op, 1 external speed, 2 latched, 3 shelved */
  float speed_rpm;         /**< v2: shaft speed, NaN unknown */
  float velocity_rms_mm_s; /**< v2: ISO velocity RMS 10 Hz - 1 kHz, NaN unknown units */
  uint8_t iso_zone;        /**< v2: 0 none, 1 A, 2 B, 3 C, 4 D */
  uint8_t top_feature_1;   /**< v2: feature with the largest squared error, 255 none */
  uint8_t top_feature_2;   /**< v2: second largest, 255 none */
} tinypdm_score_msg_t;

/** @brief CONTROL payload (host -> device, 8 bytes on the wire). */
typedef struct {
  uint8_t command; /**< TINYPDM_CONTROL_SET_SPEED or TINYPDM_CONTROL_ACKNOWLEDGE */
  float value;     /**< rpm for SET_SPEED (<= 0 or NaN: back to the estimate); else ignored */
} tinypdm_control_t;

/** @brief CRC-32/ISO-HDLC (zlib) of n bytes; crc32("123456789") == 0xCBF43926. */
uint32_t tinypdm_crc32(const uint8_t *data, size_t n);

/** @brief Continue a CRC: tinypdm_crc32_update(0, d, n) == tinypdm_crc32(d, n). */
uint32_t tinypdm_crc32_update(uint32_t crc, const uint8_t *data, size_t n);

/**
 * @brief COBS-encode n bytes (no delimiter appended).
 * @return encoded length (<= n + n/254 + 1), or 0 when cap is too small
 */
size_t tinypdm_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/**
 * @brief COBS-decode n bytes (without the delimiter); out may equal in (in-place).
 * @return decoded length, or (size_t)-1 when the input is not valid COBS or cap is too small
 */
size_t tinypdm_cobs_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/**
 * @brief Build a frame of any type: header, payload, CRC, COBS, delimiter.
 * @param seq in: this frame's sequence number; out: incremented when the frame was written
 * @return wire length, 0 when cap is too small or length > TINYPDM_FRAME_MAX_PAYLOAD
 */
size_t tinypdm_frame_encode(uint8_t *out, size_t cap, uint32_t *seq, uint8_t type,
                            const uint8_t *payload, uint16_t length);

/** @brief HELLO frame; see tinypdm_frame_encode for out/cap/seq and the return value. */
size_t tinypdm_frame_encode_hello(uint8_t *out, size_t cap, uint32_t *seq,
                                  const tinypdm_hello_t *hello);

/** @brief SCORE frame; see tinypdm_frame_encode. */
size_t tinypdm_frame_encode_score(uint8_t *out, size_t cap, uint32_t *seq,
                                  const tinypdm_score_msg_t *msg);

/**
 * @brief SAMPLES frame of n samples per axis, interleaved; see tinypdm_frame_encode.
 * @param samples n * axes int16 values (s0a0, s0a1, ..., s1a0, ...)
 */
size_t tinypdm_frame_encode_samples(uint8_t *out, size_t cap, uint32_t *seq, uint64_t t_us,
                                    const int16_t *samples, uint16_t n, uint8_t axes);

/** @brief CONTROL frame (host -> device); see tinypdm_frame_encode. */
size_t tinypdm_frame_encode_control(uint8_t *out, size_t cap, uint32_t *seq,
                                    const tinypdm_control_t *control);

/** @brief TEXT frame (level 0..3, m <= 255 bytes of UTF-8); see tinypdm_frame_encode. */
size_t tinypdm_frame_encode_text(uint8_t *out, size_t cap, uint32_t *seq, uint8_t level,
                                 const char *text, size_t m);

/** @brief Receiver counters (docs/protocol.md), as vibration.protocol.DecoderStats counts them. */
typedef struct {
  uint32_t frames;         /**< frames that passed CRC and header checks (unknown types too) */
  uint32_t crc_errors;     /**< chunks failing COBS, the length/layout checks or the CRC */
  uint32_t resyncs;        /**< runs of consecutive bad chunks (sync lost, bytes discarded) */
  uint32_t dropped_frames; /**< sum of seq gaps */
  uint32_t oversize;       /**< chunks longer than the longest frame, discarded */
  uint32_t unknown;        /**< good frames of a type this decoder does not know (skipped) */
  uint32_t wrong_version;  /**< good CRC, protocol version outside 1..2 (skipped) */
  uint32_t reboots;        /**< HELLO with seq 0, or seq going backwards */
} tinypdm_frame_counters_t;

/** @brief Incremental decoder state; initialise with tinypdm_frame_decoder_init. */
typedef struct {
  union {
    uint8_t bytes[TINYPDM_FRAME_MAX_ENCODED];
    int16_t i16[TINYPDM_FRAME_MAX_ENCODED / 2]; /**< in-place SAMPLES values (aligned) */
    uint32_t align_;
  } buf;
  uint32_t len;           /**< bytes of the current chunk */
  uint8_t discarding;     /**< dropping bytes up to the next delimiter */
  uint8_t in_sync;        /**< no bad chunk since the last good frame */
  uint8_t have_seq;       /**< last_seq is valid */
  uint32_t last_seq;      /**< seq of the last good frame */
  tinypdm_frame_counters_t counters;
  /* The last complete frame (valid until the next push). */
  uint8_t type;           /**< frame type */
  uint16_t length;        /**< payload bytes */
  uint32_t seq;           /**< its seq */
  uint8_t version;        /**< its protocol version */
  const uint8_t *payload; /**< payload bytes, inside buf */
  /* SAMPLES frames only: */
  uint64_t t_us;          /**< device time of the first sample */
  uint16_t n;             /**< samples per axis */
  uint8_t axes;           /**< axes */
  const int16_t *samples; /**< n * axes samples, interleaved, host byte order, inside buf */
} tinypdm_frame_decoder_t;

/** @brief Reset state and counters. */
void tinypdm_frame_decoder_init(tinypdm_frame_decoder_t *d);

/**
 * @brief The fields of the last frame when it is a CONTROL frame.
 * @return 1 and *control filled when the decoder's last frame is CONTROL, else 0
 */
int tinypdm_frame_decode_control(const tinypdm_frame_decoder_t *d, tinypdm_control_t *control);

/**
 * @brief Feed one received byte.
 * @return 0 while no frame is complete; the frame type (1..255) when a good frame ended
 *         with this byte: its fields are in d (type, seq, payload; SAMPLES: t_us, n, axes,
 *         samples). Checks and counters are those of vibration.protocol.FrameDecoder: a
 *         known type whose payload does not match its layout (e.g. SAMPLES length versus
 *         n * axes) is a crc_error and returns 0; unknown types are counted and return 0.
 */
int tinypdm_frame_decoder_push(tinypdm_frame_decoder_t *d, uint8_t byte);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_FRAME_H */
