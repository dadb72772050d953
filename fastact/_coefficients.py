"""Polynomial coefficients of fastact's math primitives (generated: do not edit by hand).

Produced by ``python tools/fit_polynomials.py --write``; ``--check`` verifies this file.  Imports only
the standard library, so that a C/Cython build (setup.py + Tempita) can read the same numbers.

Every polynomial is a plain tuple of coefficients, lowest order first, evaluated by Horner's rule
in the dtype named by the suffix (_F32: float32 values, written with enough digits to round-trip;
_F64: float64).  Method for every set: weighted minimax (Remez exchange on 2000 Chebyshev
nodes, mpmath 256-bit), the weight chosen so that the minimised quantity is the relative error
that the polynomial causes in the final function; then the coefficients are rounded to the dtype
highest order first, re-fitting the lower ones after each rounding.  "max error" is the weighted
(= relative) error with the rounded coefficients in exact arithmetic, as a multiple of the dtype's
unit roundoff u (2**-24 for float32, 2**-53 for float64); evaluation rounding comes on top.

The algorithms that use them are in fastact/_numba/mathfn.py (module docstring).
"""

# ---- constants ------------------------------------------------------------------------
# Cody-Waite split of ln(2): LN2_HI has trailing zero bits so that k*LN2_HI is exact for
# |k| < 2**11 (float64) / 2**8 (float32); LN2_LO = ln(2) - LN2_HI rounded to the dtype.
LN2_HI_F64 = 0.6931471803691238
LN2_LO_F64 = 1.9082149292705877e-10
LN2_HI_F32 = 0.693145751953125
LN2_LO_F32 = 1.4286068e-06
INV_LN2 = 1.4426950408889634  # rounded to the dtype where used
# Round-to-integer shifter: (t + SHIFT) - SHIFT rounds t to an integer for |t| < 2**22 / 2**51.
SHIFT_F32 = 12582912.0  # 1.5 * 2**23
SHIFT_F64 = 6755399441055744.0  # 1.5 * 2**52

# ---- algorithm constants (clamps and thresholds; see fastact/_numba/mathfn.py) ----------
# exp: clamp; exp(x) rounds to 0 below (-103.97 / -745.13)
EXP_LO_F32 = -104.0
EXP_LO_F64 = -746.0
# exp: clamp; exp(x) overflows above (88.72 / 709.78)
EXP_HI_F32 = 89.0
EXP_HI_F64 = 710.0
# expm1: clamp; expm1(x) rounds to -1 below (-17.33 / -37.43)
EXPM1_LO_F32 = -20.0
EXPM1_LO_F64 = -40.0
# expm1: clamp; overflows above (88.72 / 709.78), k stays <= emax+1
EXPM1_HI_F32 = 88.75
EXPM1_HI_F64 = 709.8
# expm1: |x| below: no range reduction (k = 0), avoids cancellation
EXPM1_SMALL_F32 = 0.5
EXPM1_SMALL_F64 = 0.5
# expm1: |x| below: expm1(x) = x (also keeps -0)
EXPM1_TINY_F32 = 2.9802322e-08
EXPM1_TINY_F64 = 5.551115123125783e-17
# log1p: k clamp for the 2**-k scaling of the rounding error of 1+x
LOG1P_KMAX_F32 = 100.0
LOG1P_KMAX_F64 = 1000.0
# log: subnormal x is scaled by 2**this first
LOG_SUBNORMAL_SHIFT_F32 = 24.0
LOG_SUBNORMAL_SHIFT_F64 = 54.0
# tanh: |x| clamp; tanh rounds to 1 above (9.01 / 19.06)
TANH_CLAMP_F32 = 10.0
TANH_CLAMP_F64 = 20.0
# tanh: |x| below: tanh(x) = x (it rounds to x there); the argument is floored here so that no product or FMA result is subnormal
TANH_TINY_F32 = 0.00012207031
TANH_TINY_F64 = 7.450580596923828e-09
# erf: |x| clamp; erf rounds to 1 above (3.92 / 5.93)
ERF_CLAMP_F32 = 3.9375
ERF_CLAMP_F64 = 6.0
# erfc: |x| below: 1 - erf(x) with erf's small-|x| polynomial
ERFC_SMALL_F32 = 0.46875
ERFC_SMALL_F64 = 0.46875
# erfc: centre of the q = (a - C)/(a + C) map (a power of 2)
ERFC_C_F32 = 1.0
ERFC_C_F64 = 4.0
# erfc: |x| clamp; erfc rounds to 0 above (10.06 / 27.23)
ERFC_CLAMP_F32 = 10.125
ERFC_CLAMP_F64 = 27.25
# exp_neg_square: |x| clamp; exp(-x*x) is 0 above (10.2 / 27.3)
ENS_CLAMP_F32 = 11.0
ENS_CLAMP_F64 = 28.0
# exp_bounded: e**x is built as (1 + p) 2**(k + this), then times 2**-this: normal scales down to exp(EXP_LO)
EXP_OFFSET_F32 = 32.0
EXP_OFFSET_F64 = 64.0
# exp_bounded: the largest argument (k + EXP_OFFSET stays <= emax)
EXP_BOUNDED_HI_F32 = 64.0
EXP_BOUNDED_HI_F64 = 640.0
# normal_cdf_pdf: centre of the q = (a - C)/(a + C) map, a = |x|/sqrt(2)
GELU_C_F32 = 3.0
GELU_C_F64 = 4.0
# normal_cdf_pdf: |x| clamp; Phi(-|x|)*|x| and the pdf are 0 above (exp(-x*x/2) k + EXP_OFFSET still normal)
GELU_XMAX_F32 = 14.625
GELU_XMAX_F64 = 38.75
# normal_cdf_pdf: |x| floor, so that no product is subnormal (Phi and the pdf round to 1/2 and 1/sqrt(2 pi) below)
GELU_TINY_F32 = 1.4901161e-08
GELU_TINY_F64 = 2.7755575615628914e-17
# tanhshrink: x*s*TANHSHRINK(s) below |x| = this, x - tanh(x) above (there x - tanh(x) >= 0.39*x: tanh's error grows <= ~1.5x)
TANHSHRINK_CUTOFF = 1.5

# exp(r) ~= 1 + (r + r*r*P(r)), |r| <= ln2/2. Weight: relative error of expm1(r) (a bound for that of exp(r)).
# Interval [-0.34691204105173046, 0.34691204105173046] of the polynomial variable, degree 4, weighted minimax (Remez); max error 0.282 u (1.68e-8).
EXP_F32 = (
    0.5,
    0.16666543,
    0.041667126,
    0.008366572,
    0.0013882486,
)

# exp(r) ~= 1 + (r + r*r*P(r)), |r| <= ln2/2. Weight: relative error of expm1(r) (a bound for that of exp(r)).
# Interval [-0.34691204105173046, 0.34691204105173046] of the polynomial variable, degree 10, weighted minimax (Remez); max error 0.00499 u (5.54e-19).
EXP_F64 = (
    0.5,
    0.16666666666666677,
    0.041666666666666505,
    0.008333333333321116,
    0.0013888888888964692,
    0.00019841269886941652,
    2.4801587171161538e-05,
    2.755724383585701e-06,
    2.7557402935536804e-07,
    2.5109078711689684e-08,
    2.08753273629135e-09,
)

# expm1(r) ~= r + r*r*P(r), |r| <= 0.5 (k = 0 for |x| < 0.5, else |r| <= ln2/2). Weight: relative error of expm1(r).
# Interval [-0.5, 0.5] of the polynomial variable, degree 5, weighted minimax (Remez); max error 0.103 u (6.16e-9).
EXPM1_F32 = (
    0.50000006,
    0.16666664,
    0.041665282,
    0.008333571,
    0.0013996153,
    0.000198498,
)

# expm1(r) ~= r + r*r*P(r), |r| <= 0.5 (k = 0 for |x| < 0.5, else |r| <= ln2/2). Weight: relative error of expm1(r).
# Interval [-0.5, 0.5] of the polynomial variable, degree 11, weighted minimax (Remez); max error 0.0149 u (1.65e-18).
EXPM1_F64 = (
    0.5,
    0.16666666666666669,
    0.041666666666667566,
    0.008333333333332494,
    0.0013888888888582307,
    0.00019841269842668473,
    2.4801587728915254e-05,
    2.755731824878865e-06,
    2.755703125765372e-07,
    2.5052368891187547e-08,
    2.096958425294475e-09,
    1.6060241562234996e-10,
)

# log(1+f) = 2s + s*z*L(z), s = f/(2+f), z = s*s, f in [sqrt(1/2)-1, sqrt(2)-1]. Weight: relative error of log(1+f).
# Interval [0.0, 0.029465998838799707] of the polynomial variable, degree 2, weighted minimax (Remez); max error 0.0137 u (8.18e-10).
LOG1P_F32 = (
    0.66666776,
    0.3997755,
    0.29872292,
)

# log(1+f) = 2s + s*z*L(z), s = f/(2+f), z = s*s, f in [sqrt(1/2)-1, sqrt(2)-1]. Weight: relative error of log(1+f).
# Interval [0.0, 0.029465998838799707] of the polynomial variable, degree 6, weighted minimax (Remez); max error 0.0134 u (1.49e-18).
LOG1P_F64 = (
    0.666666666666674,
    0.39999999999399083,
    0.28571428744169947,
    0.22222198464736403,
    0.1818356840348931,
    0.15313955196162832,
    0.14796994951513825,
)

# expm1(2r)/2 ~= r + r*r*H(r), |r| <= ln2/4 (tanh's reduced argument). Weight: relative error of expm1(2r).
# Interval [-0.17345602052586523, 0.17345602052586523] of the polynomial variable, degree 4, weighted minimax (Remez); max error 0.282 u (1.68e-8).
TANH_F32 = (
    1.0,
    0.66666174,
    0.333337,
    0.13386515,
    0.044423956,
)

# expm1(2r)/2 ~= r + r*r*H(r), |r| <= ln2/4 (tanh's reduced argument). Weight: relative error of expm1(2r).
# Interval [-0.17345602052586523, 0.17345602052586523] of the polynomial variable, degree 10, weighted minimax (Remez); max error 0.00499 u (5.54e-19).
TANH_F64 = (
    1.0,
    0.6666666666666671,
    0.33333333333333204,
    0.13333333333313785,
    0.044444444444687016,
    0.012698412727642657,
    0.003174603157908677,
    0.0007054654421979395,
    0.00014109390302994844,
    2.5711696600770236e-05,
    4.275267043924685e-06,
)

# erf(a) ~= a + a*P(s), s = a*a, 0 <= a < 1. Weight: relative error of erf(a).
# Interval [0.0, 1.0] of the polynomial variable, degree 6, weighted minimax (Remez); max error 0.0255 u (1.52e-9).
ERF_SMALL_F32 = (
    0.12837917,
    -0.37612626,
    0.112835854,
    -0.026853815,
    0.005188328,
    -0.0008010193,
    7.85386e-05,
)

# erf(a) ~= a + a*P(s), s = a*a, 0 <= a < 1. Weight: relative error of erf(a).
# Interval [0.0, 1.0] of the polynomial variable, degree 11, weighted minimax (Remez); max error 0.153 u (1.7e-17).
ERF_SMALL_F64 = (
    0.12837916709551256,
    -0.37612638903183343,
    0.11283791670936819,
    -0.026866170641925088,
    0.005223977596343818,
    -0.0008548325460501523,
    0.00012055279586651713,
    -1.49244446634756e-05,
    1.6443847914277795e-06,
    -1.6181334990814668e-07,
    1.3603746193136877e-08,
    -7.580917630291508e-10,
)

# log(erfc(a)) ~= G(a - 1), 1 <= a <= 3.9375 (clamped); erf(a) = 1 - exp(G). Weight: relative error of erf(a) = 1 - exp(G).
# Interval [0.0, 2.9375] of the polynomial variable, degree 6, weighted minimax (Remez); max error 0.158 u (9.4e-9).
ERF_LARGE_F32 = (
    -1.8496056,
    -2.6389666,
    -0.8431171,
    -0.041503496,
    0.00989546,
    -0.0018293827,
    0.00018637907,
)

# (a + C)*exp(a*a)*erfc(a) ~= P(q), q = (a - C)/(a + C), C = 1, 0.46875 <= a <= 10.125. Weight: relative error of erfc(a).
# Interval [-0.3617021276595745, 0.8202247191011236] of the polynomial variable, degree 10, weighted minimax (Remez); max error 0.0893 u (5.33e-9).
ERFC_F32 = (
    0.85516715,
    -0.23768093,
    -0.0955565,
    0.013910912,
    0.02539669,
    0.009506502,
    -0.0011998336,
    -0.0033982596,
    -0.002718013,
    -0.0010526191,
    0.0018208378,
)

# (a + C)*exp(a*a)*erfc(a) ~= P(q), q = (a - C)/(a + C), C = 4, 0.46875 <= a <= 27.25. Weight: relative error of erfc(a).
# Interval [-0.7902097902097902, 0.744] of the polynomial variable, degree 20, weighted minimax (Remez); max error 0.52 u (5.77e-17).
ERFC_F64 = (
    1.095995661000491,
    -0.976548729080882,
    0.7732087022652363,
    -0.5408538313132344,
    0.33085158787807245,
    -0.17401093723996242,
    0.07638151490777326,
    -0.026370053339707836,
    0.006112055675704659,
    -0.00028095887264785327,
    -0.0004550528371121076,
    0.00017681286603624452,
    -3.6344367738623746e-06,
    -1.8861077000970464e-05,
    4.69215200855776e-06,
    1.4246545271030064e-06,
    -8.417571596798248e-07,
    -7.617857807078435e-08,
    1.1881454582292709e-07,
    1.344745012500129e-09,
    -1.1912589520516472e-08,
)

# (a + C)*exp(a*a)*erfc(a) ~= P(q), q = (a - C)/(a + C), C = 3, 0 <= a <= GELU_XMAX/sqrt(2) (gelu's normal cdf and pdf). Weight: relative error of erfc(a).
# Interval [-1.0, 0.5506134934969912] of the polynomial variable, degree 9, weighted minimax (Remez); max error 0.16 u (9.55e-9).
GELU_ERFC_F32 = (
    1.0740069,
    -0.8833945,
    0.59022826,
    -0.310466,
    0.11952923,
    -0.026840212,
    -0.0012273835,
    0.0030806975,
    -0.00048139025,
    -0.00032440486,
)

# (a + C)*exp(a*a)*erfc(a) ~= P(q), q = (a - C)/(a + C), C = 4, 0 <= a <= GELU_XMAX/sqrt(2) (gelu's normal cdf and pdf). Weight: relative error of erfc(a).
# Interval [-1.0, 0.7454429998310346] of the polynomial variable, degree 21, weighted minimax (Remez); max error 0.56 u (6.22e-17).
GELU_ERFC_F64 = (
    1.095995661000491,
    -0.9765487290808824,
    0.7732087022652411,
    -0.5408538313131837,
    0.3308515878777941,
    -0.17401093724156808,
    0.07638151491416602,
    -0.02637005331571219,
    0.006112055602507041,
    -0.00028095907636603205,
    -0.0004550523613749962,
    0.00017681393725901416,
    -3.6363086559680146e-06,
    -1.8864699184869443e-05,
    4.6967021993025605e-06,
    1.432551714755561e-06,
    -8.484434813801318e-07,
    -8.69096563879175e-08,
    1.242627107955033e-07,
    9.608408615865635e-09,
    -1.3803449712396915e-08,
    -2.7526813916491862e-09,
)

# log1p(e) ~= e + e*e*P(e), 0 <= e <= 1 (softplus and logsigmoid: e = exp(-|x|)). Weight: relative error of log1p(e).
# Interval [0.0, 1.0] of the polynomial variable, degree 9, weighted minimax (Remez); max error 0.0318 u (1.89e-9).
LOG1P_UNIT_F32 = (
    -0.49999985,
    0.3333266,
    -0.24988388,
    0.19897251,
    -0.16127957,
    0.12465534,
    -0.083064415,
    0.041978996,
    -0.013631515,
    0.0020729543,
)

# log1p(e) ~= e + e*e*P(e), 0 <= e <= 1 (softplus and logsigmoid: e = exp(-|x|)). Weight: relative error of log1p(e).
# Interval [0.0, 1.0] of the polynomial variable, degree 20, weighted minimax (Remez); max error 0.0991 u (1.1e-17).
LOG1P_UNIT_F64 = (
    -0.499999999999999,
    0.3333333333331432,
    -0.2499999999865586,
    0.19999999950716263,
    -0.16666665574382267,
    0.14285698221878962,
    -0.12499833192535444,
    0.1110983376165751,
    -0.09992555490828843,
    0.09057098433994085,
    -0.08211468169833419,
    0.0733857812201682,
    -0.0630557244715093,
    0.05031104091782489,
    -0.035785096955939316,
    0.021725862174086414,
    -0.010752157069657745,
    0.004112218457294698,
    -0.001130214929411697,
    0.00019746382416604654,
    -1.6405360330921466e-05,
)

# x - tanh(x) ~= x*s*P(s), s = x*x, |x| < TANHSHRINK_CUTOFF = 1.5. Weight: relative error of x - tanh(x).
# Interval [0.0, 2.25] of the polynomial variable, degree 10, weighted minimax (Remez); max error 0.854 u (5.09e-8).
TANHSHRINK_F32 = (
    0.33333334,
    -0.1333341,
    0.053977907,
    -0.021916585,
    0.008975064,
    -0.0037272268,
    0.0015165658,
    -0.0005424492,
    0.00014613001,
    -2.4716595e-05,
    1.9075303e-06,
)

# x - tanh(x) ~= x*s*P(s), s = x*x, |x| < TANHSHRINK_CUTOFF = 1.5. Weight: relative error of x - tanh(x).
# Interval [0.0, 2.25] of the polynomial variable, degree 20, weighted minimax (Remez); max error 0.613 u (6.81e-17).
TANHSHRINK_F64 = (
    0.3333333333333333,
    -0.1333333333333262,
    0.05396825396779604,
    -0.021869488524410223,
    0.008863235369636745,
    -0.0035921266910923467,
    0.0014558268047515424,
    -0.0005899970635452465,
    0.00023903904351684643,
    -9.671184369577685e-05,
    3.891995003514491e-05,
    -1.5418660977466083e-05,
    5.890181714763969e-06,
    -2.1014374099773053e-06,
    6.724610875679703e-07,
    -1.845666978396148e-07,
    4.141547133403158e-08,
    -7.190705292936837e-09,
    8.971753395196154e-10,
    -7.109893053565287e-11,
    2.675768468971106e-12,
)
