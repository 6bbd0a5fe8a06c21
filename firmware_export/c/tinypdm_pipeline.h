/**
 * @file tinypdm_pipeline.h
 * @brief Samples in, scored windows out: the whole on-device loop.
 *
 * Push int16 samples of the scored axis as they arrive; every TINYPDM_HOP samples (once
 * the first TINYPDM_WINDOW have arrived) one window is scored:
 * physical = scale * sample, features, standardise (at the window's shaft speed), int8
 * model, score, threshold, alarm lifecycle, ISO velocity and zone, the two features that
 * explain the score most; the shaft speed comes from tinypdm_speed (fed every sample, its
 * estimate borrows the work buffer between windows) or an external speed
 * (tinypdm_pipeline_set_speed, CONTROL command 1). A speed-aware model reports a window whose
 * speed is unknown or outside the trained envelope as of unknown operating point: state 3,
 * never over, no alarm, and the alarm lifecycle does not advance. Window i covers samples
 * [i*HOP, i*HOP + WINDOW), the same grid as
 * vibration.features.frame_windows. All state lives in tinypdm_pipeline_t (static
 * storage, sizes from the generated header).
 */
#ifndef TINYPDM_PIPELINE_H
#define TINYPDM_PIPELINE_H

#include <stdint.h>

#include "tinypdm_features.h"
#include "tinypdm_frame.h"
#include "tinypdm_model_config.h"
#include "tinypdm_score.h"
#include "tinypdm_speed.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @brief One scored window. */
typedef struct {
  uint64_t sample_index; /**< index (from 0 at init) of the window's last sample */
  float score;           /**< mean squared reconstruction error */
  float threshold;       /**< the threshold compared against */
  float rms;             /**< RMS of the window, physical units */
  float kurtosis;        /**< Pearson kurtosis of the window */
  float crest;           /**< crest factor of the window */
  float speed_rpm;       /**< shaft speed the window was scored at, rpm; NaN: unknown */
  float velocity_rms_mm_s; /**< ISO 10816 velocity RMS 10 Hz - 1 kHz; NaN: units unknown */
  uint8_t over;          /**< score > threshold (0 in an unknown-operating-point window) */
  uint8_t alarm;         /**< the alarm is raised (0 in an unknown-operating-point window) */
  uint8_t state;         /**< TINYPDM_STATE_OK, _OVER, _ALARM or _UNKNOWN (operating point) */
  uint8_t flags;         /**< TINYPDM_FLAG_* bits */
  uint8_t iso_zone;      /**< 0 none, 1 A, 2 B, 3 C, 4 D (limits TINYPDM_ISO_ZONE_*) */
  uint8_t top_feature_1; /**< index of the largest squared reconstruction error, 255 none */
  uint8_t top_feature_2; /**< second largest, 255 none */
} tinypdm_result_t;

/** @brief Pipeline state; initialise with tinypdm_pipeline_init. */
typedef struct {
  int16_t ring[TINYPDM_WINDOW]; /**< the last WINDOW samples */
  float work[TINYPDM_WINDOW];   /**< window in physical units, then FFT work space */
  uint32_t head;                /**< next ring slot */
  uint32_t until_next;          /**< samples still due before the next window */
  uint64_t n_samples;           /**< samples pushed since init */
  float scale;                  /**< physical units per LSB (TINYPDM_SAMPLE_SCALE) */
  float threshold;              /**< TINYPDM_THRESHOLD */
  float units_to_ms2;           /**< m/s^2 per physical unit, 0: unknown (no velocity) */
  uint32_t results_dropped;     /**< windows scored while out[] was full */
  tinypdm_alarm_t alarm;        /**< alarm lifecycle */
  tinypdm_speed_t speed;        /**< tachless speed of the scored axis */
} tinypdm_pipeline_t;

/** @brief Reset: empty ring, scale TINYPDM_SAMPLE_SCALE, threshold TINYPDM_THRESHOLD, no alarm,
 *         no speed estimate yet, no external speed. */
void tinypdm_pipeline_init(tinypdm_pipeline_t *p);

/** @brief Physical units per LSB of the pushed samples (e.g. from the host's HELLO). */
void tinypdm_pipeline_set_scale(tinypdm_pipeline_t *p, float units_per_lsb);

/**
 * @brief m/s^2 per unit of a HELLO units string: "g" 9.80665, "m/s2" or "m/s^2" 1, else 0
 *        (unknown: velocity NaN). Same table as vibration.learning.severity.units_to_ms2.
 * @param units up to 8 chars, NUL-padded or terminated (the HELLO field)
 */
float tinypdm_units_to_ms2(const char *units);

/** @brief Physical units of the pushed samples (e.g. the host's HELLO units). */
void tinypdm_pipeline_set_units(tinypdm_pipeline_t *p, const char *units);

/**
 * @brief Acknowledge the alarm (CONTROL command 2): a latched alarm is released and clears
 *        by the ordinary rule from the next window on.
 * @return 1 when an alarm was latched
 */
uint8_t tinypdm_pipeline_acknowledge(tinypdm_pipeline_t *p);

/**
 * @brief Act on a CONTROL frame from the host: command 2 acknowledges the alarm; command 1
 *        sets the external speed (tinypdm_speed_set_external; value <= 0 or NaN: back to
 *        the tachless estimate).
 * @return 1 when the command is known
 */
int tinypdm_pipeline_control(tinypdm_pipeline_t *p, const tinypdm_control_t *control);

/**
 * @brief External shaft speed of the windows scored from now on (a tach input, CONTROL
 *        command 1): tinypdm_speed_set_external.
 * @param rpm revolutions per minute; NaN or <= 0: back to the tachless estimate (NaN while
 *            it warms up: speed-aware models then report the unknown operating point)
 */
void tinypdm_pipeline_set_speed(tinypdm_pipeline_t *p, float rpm);

/**
 * @brief Push samples of the scored axis.
 * @param samples n int16 samples
 * @param out     room for max_out results; windows beyond it are counted in results_dropped
 *                (n / TINYPDM_HOP + 1 is always enough)
 * @return the number of results written to out
 */
int tinypdm_pipeline_push(tinypdm_pipeline_t *p, const int16_t *samples, uint32_t n,
                          tinypdm_result_t *out, uint32_t max_out);

/**
 * @brief Push interleaved multi-axis samples (s0a0, s0a1, ..., s1a0, ...);
 *        axis TINYPDM_FEATURE_AXIS is scored.
 * @return the number of results, or -1 when axes <= TINYPDM_FEATURE_AXIS
 */
int tinypdm_pipeline_push_interleaved(tinypdm_pipeline_t *p, const int16_t *samples,
                                      uint32_t n_per_axis, uint32_t axes,
                                      tinypdm_result_t *out, uint32_t max_out);

/** @brief SCORE (v2) frame fields of a result (t_us: device time of the window's last sample). */
void tinypdm_result_to_score(const tinypdm_result_t *r, uint64_t t_us, tinypdm_score_msg_t *msg);

/**
 * @brief HELLO fields this build knows: sample rate, scale, units, model SHA-256, flags
 *        (scores on board), axes 1, samples_per_frame 0, firmware_version
 *        TINYPDM_MODEL_VERSION; the caller sets device_id and may change the rest.
 */
void tinypdm_pipeline_hello(const tinypdm_pipeline_t *p, tinypdm_hello_t *hello);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_PIPELINE_H */
