// @GENERATED@
//
// tinypdm sensor sketch: samples one axis at TINYPDM_SAMPLE_RATE_HZ, scores every window
// on board and sends HELLO and SCORE frames (docs/protocol.md) over Serial.
//
// Replace read_sample() with your accelerometer driver; set SAMPLE_SCALE to its
// physical units per LSB (the model was trained in TINYPDM_UNITS).
#include <tinypdm.h>

static const uint32_t BAUD = @BAUD@;  // vibration.acquisition.serial_link.DEFAULT_BAUD
static const float SAMPLE_SCALE = TINYPDM_SAMPLE_SCALE;  // units per LSB of read_sample()
static const uint32_t HELLO_PERIOD_MS = 10000;
static const int SENSOR_PIN = A0;

static tinypdm_pipeline_t pipeline;
static tinypdm_result_t results[2];
static uint8_t tx[TINYPDM_FRAME_WIRE_SIZE(TINYPDM_HELLO_BYTES)];
static uint32_t seq = 0;
static const uint32_t RATE_HZ = (uint32_t)(TINYPDM_SAMPLE_RATE_HZ + 0.5f);
static uint32_t start_us = 0;
static uint64_t samples_read = 0;
static uint32_t last_hello_ms = 0;

// Device time of sample i, from the sample count (no rounding drift: 12 kHz stays 12 kHz).
static uint64_t sample_time_us(uint64_t i) {
  return (i * 1000000ULL) / RATE_HZ;
}

// One int16 sample of the scored axis. Here: an analog accelerometer on A0, centred.
static int16_t read_sample() {
  return (int16_t)(analogRead(SENSOR_PIN) - 512);
}

static void send_hello() {
  tinypdm_hello_t hello;
  tinypdm_pipeline_hello(&pipeline, &hello);
  strncpy(hello.device_id, "arduino", sizeof(hello.device_id));
  size_t n = tinypdm_frame_encode_hello(tx, sizeof(tx), &seq, &hello);
  Serial.write(tx, n);
}

void setup() {
  Serial.begin(BAUD);
  tinypdm_pipeline_init(&pipeline);
  tinypdm_pipeline_set_scale(&pipeline, SAMPLE_SCALE);
  send_hello();
  last_hello_ms = millis();
  start_us = micros();
}

// Polled sampling: while a window is scored, the samples that fall due are read late, in
// a burst (their timestamps stay on the sample clock). For jitter-free sampling, read the
// accelerometer from a timer interrupt or its FIFO and push blocks instead.
void loop() {
  const uint32_t due = start_us + (uint32_t)sample_time_us(samples_read);
  if ((int32_t)(micros() - due) < 0) {
    return;
  }
  const uint64_t t_us = sample_time_us(samples_read);
  ++samples_read;
  int16_t s = read_sample();
  int k = tinypdm_pipeline_push(&pipeline, &s, 1, results, 2);
  for (int i = 0; i < k; ++i) {
    tinypdm_score_msg_t msg;
    tinypdm_result_to_score(&results[i], t_us, &msg);
    size_t n = tinypdm_frame_encode_score(tx, sizeof(tx), &seq, &msg);
    Serial.write(tx, n);
  }
  if (millis() - last_hello_ms >= HELLO_PERIOD_MS) {
    last_hello_ms = millis();
    send_hello();
  }
}
