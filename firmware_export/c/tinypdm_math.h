/**
 * @file tinypdm_math.h
 * @brief Float32 functions that give the same bits on every IEEE binary32 target.
 *
 * The C libraries disagree in the last bit of their transcendental functions (newlib's and
 * glibc's log10f differ on about 0.7 % of arguments), so a feature computed on the device
 * and the same C built for the host could differ by an ulp. The functions here use only
 * IEEE basic operations (+ - * / and exact bit manipulation) in a fixed order: with
 * FLT_EVAL_METHOD 0 and no fused multiply-add contraction (ISO C mode, e.g. -std=c99, or
 * -ffp-contract=off) every conforming compiler and FPU computes the same result.
 */
#ifndef TINYPDM_MATH_H
#define TINYPDM_MATH_H

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Base-10 logarithm in float32, nearly correctly rounded.
 *
 * At most 0.70 ulp from the exact log10: checked on every positive float, it returns the
 * correctly rounded value except on 0.03 % of them (where it is one ulp off). Bit-identical
 * on every target (see the file comment). About 60 floating-point operations, no tables.
 * @param x any float
 * @return log10(x); -inf for +-0, +inf for +inf, a quiet NaN for x < 0, x itself for NaN
 */
float tinypdm_log10f(float x);

#ifdef __cplusplus
}
#endif

#endif /* TINYPDM_MATH_H */
