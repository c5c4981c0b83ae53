/* The inner loops of activation calibration (quant.histogram): exact bin counts of float32 values, the
   extreme values of a batch, and the closed-form error of quantizing a histogram.

   Each rule below is a torch or numpy expression in quant/histogram.py, computed here with the same float32
   operations in the same order (the build turns off the contraction of a multiply and an add into
   one fused operation), so both give the same counts; the tests compare them. One pass over the
   data, no temporaries the size of the data: bin indices for a block of values (vectorized), then the
   counts, alternating between two copies of the counters on large inputs, so that a run of equal
   values (a ReLU's zeros) does not make each increment wait for the previous one. (Measured on the
   demo's layer inputs, alternating in one process: one copy 1.4x and four copies 1.1-1.2x slower, and
   switching to four copies per block where runs are found 1.2-1.3x slower.)

   histc(x, out, lo, a, b, rule)   out (int64, bins) += counts, bin = trunc(p) for
       rule 0: p = (x - lo) / a
       rule 1: p = ((x - lo) * a) / b
       rule 2: p = min(((x - lo) / b) * a, a)
     with the top edge (bin == bins) in the last bin, as torch.histc.
   clamped(x, out, step, shift)    out (int64, bins + 2) += counts, bin = trunc(clamp(x * step + shift,
     0, bins + 1)).
   extremes(x, top, bottom[, counts, step, shift])   the sorted k largest and k smallest values
     (torch.topk's values), with the clamped counts from the same pass: each block's largest and
     smallest value (vectorized, four running extremes per side), then two small heaps pick the k blocks
     with the most extreme ones and, from those, the values; returns whether x holds nan.

   moments(hist, tables) -> totals, and
   losses(tables, quantizers, out, lo, width, total0, total1, total2, qmin, qmax)
     out[i] = HistogramMoments' loss of quantizer i (quantizers: float32 rows c, scale, offset, low;
     tables: float64 rows mass, left0, left1), the same float64 operations as its numpy code, the sum
     over the boundaries in order (numpy sums pairwise: the two differ in the last bits).

   Every index is clamped to the counters (tables) before it is used, whatever the data (nan
   included), so no input can read or write outside them. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 1024  /* values per block; also the extremes' unit */
#define MAX_EXTREMES 64
/* counts per copy stay below 2^32: at most this many values between two flushes into `out` */
#define CHUNK ((Py_ssize_t)1 << 30)

enum rule { DIV_STEP = 0, MUL_DIV = 1, DIV_MUL = 2, CLAMPED = 3 };

struct params {
    enum rule rule;
    float lo, a, b;  /* CLAMPED: a = step, b = shift */
    float last;      /* the last counter's index */
};

static void indices(const float *v, Py_ssize_t m, const struct params *p, int32_t *idx)
{
    const float lo = p->lo, a = p->a, b = p->b, last = p->last;
    Py_ssize_t i;
    switch (p->rule) {
    case DIV_STEP:
        for (i = 0; i < m; i++) {
            float q = (v[i] - lo) / a;
            q = q < last ? q : last;
            idx[i] = (int32_t)(q > 0.0f ? q : 0.0f);
        }
        break;
    case MUL_DIV:
        for (i = 0; i < m; i++) {
            float q = ((v[i] - lo) * a) / b;
            q = q < last ? q : last;
            idx[i] = (int32_t)(q > 0.0f ? q : 0.0f);
        }
        break;
    case DIV_MUL:
        for (i = 0; i < m; i++) {
            float q = ((v[i] - lo) / b) * a;  /* min(q, a) then the top edge: min(q, last) */
            q = q < last ? q : last;
            idx[i] = (int32_t)(q > 0.0f ? q : 0.0f);
        }
        break;
    case CLAMPED:
        for (i = 0; i < m; i++) {
            float q = v[i] * a;
            q = q + b;
            q = q < last ? q : last;
            idx[i] = (int32_t)(q > 0.0f ? q : 0.0f);
        }
        break;
    }
}

/* a min-heap of the k largest (value, block) pairs offered; `filled` of them so far */
struct heap {
    float v[MAX_EXTREMES];
    Py_ssize_t block[MAX_EXTREMES];
    Py_ssize_t k, filled;
};

static void heap_offer(struct heap *h, float v, Py_ssize_t block)
{
    Py_ssize_t i, child;
    if (h->filled < h->k) {
        for (i = h->filled++; i > 0 && h->v[(i - 1) / 2] > v; i = (i - 1) / 2) {
            h->v[i] = h->v[(i - 1) / 2];
            h->block[i] = h->block[(i - 1) / 2];
        }
    } else {
        if (!(v > h->v[0]))
            return;
        for (i = 0; (child = 2 * i + 1) < h->k; i = child) {
            if (child + 1 < h->k && h->v[child + 1] < h->v[child])
                child++;
            if (!(h->v[child] < v))
                break;
            h->v[i] = h->v[child];
            h->block[i] = h->block[child];
        }
    }
    h->v[i] = v;
    h->block[i] = block;
}

/* the k largest values of x (`sign` 1) or, negated, the k smallest (`sign` -1), sorted, into out:
   only the k blocks with the most extreme block values (`block_ext`, times `sign`) can hold them, and
   only their values from the k-th of those on; x holds no nan */
static void select_extremes(const float *x, Py_ssize_t n, const float *block_ext, Py_ssize_t k, float sign,
                            float *out)
{
    struct heap blocks, values;
    Py_ssize_t nblocks = (n + BLOCK - 1) / BLOCK, b, i, j;
    float least;
    blocks.k = values.k = k;
    blocks.filled = values.filled = 0;
    for (b = 0; b < nblocks; b++)
        heap_offer(&blocks, sign * block_ext[b], b);
    least = blocks.filled == k ? blocks.v[0] : -INFINITY;
    for (b = 0; b < blocks.filled; b++) {
        Py_ssize_t start = blocks.block[b] * BLOCK, end = n - start < BLOCK ? n : start + BLOCK;
        for (i = start; i < end; i++) {
            float v = sign * x[i];
            if (v >= least)
                heap_offer(&values, v, 0);
        }
    }
    for (i = 1; i < values.filled; i++) {  /* largest first */
        float v = values.v[i];
        for (j = i; j > 0 && values.v[j - 1] < v; j--)
            values.v[j] = values.v[j - 1];
        values.v[j] = v;
    }
    for (i = 0; i < values.filled; i++)
        out[i] = sign * values.v[i];
}

/* the largest and smallest value of a block, nan left out, and whether it holds nan */
static int block_extremes(const float *v, Py_ssize_t m, float *high, float *low)
{
    Py_ssize_t j = 0;
    float hi = -INFINITY, lo = INFINITY;
    int seen = 0;
#if defined(__SSE2__) || defined(_M_X64)
    /* maxps / minps return the second operand where either is nan: the running extremes, so nan is
       left out, as the comparisons below do; -0.0 and 0.0 may come out either way, equal as values */
    /* four running extremes each, so that consecutive maxps do not wait on each other */
    __m128 h[4], l[4], bad = _mm_setzero_ps();
    float hs[4], ls[4];
    int r;
    for (r = 0; r < 4; r++) {
        h[r] = _mm_set1_ps(-INFINITY);
        l[r] = _mm_set1_ps(INFINITY);
    }
    for (; j + 16 <= m; j += 16)
        for (r = 0; r < 4; r++) {
            __m128 q = _mm_loadu_ps(v + j + 4 * r);
            h[r] = _mm_max_ps(q, h[r]);
            l[r] = _mm_min_ps(q, l[r]);
            bad = _mm_or_ps(bad, _mm_cmpunord_ps(q, q));
        }
    for (r = 1; r < 4; r++) {
        h[0] = _mm_max_ps(h[r], h[0]);
        l[0] = _mm_min_ps(l[r], l[0]);
    }
    _mm_storeu_ps(hs, h[0]);
    _mm_storeu_ps(ls, l[0]);
    seen = _mm_movemask_ps(bad) != 0;
    for (r = 0; r < 4; r++) {
        hi = hs[r] > hi ? hs[r] : hi;
        lo = ls[r] < lo ? ls[r] : lo;
    }
#endif
    for (; j < m; j++) {
        hi = v[j] > hi ? v[j] : hi;
        lo = v[j] < lo ? v[j] : lo;
        seen |= v[j] != v[j];
    }
    *high = hi;
    *low = lo;
    return seen;
}

/* out[0:bins] += counts of x when `p` is given; the largest and smallest value of each block into
   `highs` and `lows` when given; returns -1 (memory), 1 (x holds nan) or 0 */
static int count(const float *x, Py_ssize_t n, const struct params *p, Py_ssize_t bins, int64_t *out,
                 float *highs, float *lows)
{
    /* the second copy pays for its zeroing and summing only on enough data */
    const Py_ssize_t copies = p != NULL && n >= 4 * bins ? 2 : 1;
    uint32_t *c = p != NULL ? malloc(sizeof(uint32_t) * (size_t)(copies * bins)) : NULL;
    uint32_t *c1 = c != NULL ? c + (copies - 1) * bins : NULL;
    int32_t idx[BLOCK];
    Py_ssize_t start, i, j;
    int nan = 0;
    if (p != NULL && c == NULL)
        return -1;
    for (start = 0; start < n; start += CHUNK) {
        Py_ssize_t end = n - start < CHUNK ? n : start + CHUNK;
        if (c != NULL)
            memset(c, 0, sizeof(uint32_t) * (size_t)(copies * bins));
        for (i = start; i < end; i += BLOCK) {
            Py_ssize_t m = end - i < BLOCK ? end - i : BLOCK;
            const float *v = x + i;
            if (highs != NULL)
                nan |= block_extremes(v, m, highs + i / BLOCK, lows + i / BLOCK);
            if (c == NULL)
                continue;
            indices(v, m, p, idx);
            for (j = 0; j + 2 <= m; j += 2) {
                c[idx[j]]++;
                c1[idx[j + 1]]++;
            }
            if (j < m)
                c[idx[j]]++;
        }
        if (c == NULL)
            continue;
        if (copies == 2)
            for (j = 0; j < bins; j++)
                out[j] += (int64_t)c[j] + c1[j];
        else
            for (j = 0; j < bins; j++)
                out[j] += c[j];
    }
    free(c);
    return nan;
}

/* what an entry point expects of one buffer argument: its name (for messages), its item type
   ("float32", "float64" or "int64"), and whether it is written */
struct want {
    const char *what, *type;
    int writable;
};

/* a C-contiguous buffer of the wanted item type */
static int get_buffer(PyObject *obj, Py_buffer *view, const struct want *w)
{
    const int f32 = strcmp(w->type, "float32") == 0, f64 = strcmp(w->type, "float64") == 0;
    const char *format, *codes = f32 ? "f" : (f64 ? "d" : "ql");
    const Py_ssize_t itemsize = f32 ? 4 : 8;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (w->writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    format = view->format ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@')
        format++;
    if (view->itemsize != itemsize || strlen(format) != 1 || strchr(codes, *format) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous buffer of %s", w->what, w->type);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static void release_buffers(Py_buffer *views, int n)
{
    while (n-- > 0)
        PyBuffer_Release(&views[n]);
}

/* views[i] of objs[i] as wants[i] says; on failure none is held */
static int get_buffers(PyObject *const *objs, const struct want *wants, int n, Py_buffer *views)
{
    int i;
    for (i = 0; i < n; i++)
        if (get_buffer(objs[i], &views[i], &wants[i]) < 0) {
            release_buffers(views, i);
            return -1;
        }
    return 0;
}

static PyObject *run(PyObject *xobj, PyObject *outobj, struct params *p, Py_ssize_t extra)
{
    static const struct want wants[2] = {{"values", "float32", 0}, {"counts", "int64", 1}};
    PyObject *objs[2] = {xobj, outobj};
    Py_buffer v[2];
    Py_ssize_t bins;
    int status;
    if (get_buffers(objs, wants, 2, v) < 0)
        return NULL;
    bins = v[1].len / 8;
    if (bins <= extra || bins > INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "counts: %zd bins", bins - extra);
        release_buffers(v, 2);
        return NULL;
    }
    p->last = (float)(bins - 1);
    Py_BEGIN_ALLOW_THREADS
    status = count((const float *)v[0].buf, v[0].len / 4, p, bins, (int64_t *)v[1].buf, NULL, NULL);
    Py_END_ALLOW_THREADS
    release_buffers(v, 2);
    if (status < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyObject *histc(PyObject *self, PyObject *args)
{
    PyObject *x, *out;
    double lo, a, b;
    int rule;
    struct params p;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOdddi:histc", &x, &out, &lo, &a, &b, &rule))
        return NULL;
    if (rule < DIV_STEP || rule > DIV_MUL) {
        PyErr_Format(PyExc_ValueError, "histc: rule %d, expected 0, 1 or 2", rule);
        return NULL;
    }
    p.rule = (enum rule)rule;
    p.lo = (float)lo;
    p.a = (float)a;
    p.b = (float)b;
    return run(x, out, &p, 0);
}

static PyObject *clamped(PyObject *self, PyObject *args)
{
    PyObject *x, *out;
    double step, shift;
    struct params p;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOdd:clamped", &x, &out, &step, &shift))
        return NULL;
    p.rule = CLAMPED;
    p.lo = 0.0f;
    p.a = (float)step;
    p.b = (float)shift;
    return run(x, out, &p, 2);
}

/* extremes(x, top, bottom, counts=None, step=0.0, shift=0.0) -> bool: the sorted top-k and bottom-k of
   x into top and bottom (float32, k each, 1 <= k <= min(len(x), MAX_EXTREMES)), with the clamped counts
   when counts is given; True when x holds nan (then top and bottom are not set) */
static PyObject *extremes(PyObject *self, PyObject *args)
{
    static const struct want wants[4] = {{"values", "float32", 0}, {"top", "float32", 1}, {"bottom", "float32", 1},
                                         {"counts", "int64", 1}};
    PyObject *objs[4] = {NULL, NULL, NULL, Py_None}, *result = NULL;
    Py_buffer v[4];
    double step = 0.0, shift = 0.0;
    struct params p;
    float *ext = NULL;
    Py_ssize_t n, k, bins, nblocks;
    int held, status;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO|Odd:extremes", &objs[0], &objs[1], &objs[2], &objs[3], &step, &shift))
        return NULL;
    held = objs[3] != Py_None ? 4 : 3;
    if (get_buffers(objs, wants, held, v) < 0)
        return NULL;
    n = v[0].len / 4;
    k = v[1].len / 4;
    bins = held == 4 ? v[3].len / 8 : 0;
    if (v[1].len != v[2].len || k < 1 || k > n || k > MAX_EXTREMES || (held == 4 && (bins <= 2 || bins > INT32_MAX))) {
        PyErr_Format(PyExc_ValueError, "extremes: expected top and bottom of 1 to min(len(x), %d) values, and "
                                       "counts of more than 2 bins", MAX_EXTREMES);
        goto done;
    }
    nblocks = (n + BLOCK - 1) / BLOCK;
    ext = malloc(sizeof(float) * 2 * (size_t)nblocks);
    if (ext == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    p.rule = CLAMPED;
    p.lo = 0.0f;
    p.a = (float)step;
    p.b = (float)shift;
    p.last = (float)(bins - 1);
    Py_BEGIN_ALLOW_THREADS
    status = count((const float *)v[0].buf, n, held == 4 ? &p : NULL, bins, held == 4 ? (int64_t *)v[3].buf : NULL,
                   ext, ext + nblocks);
    if (status == 0) {
        select_extremes((const float *)v[0].buf, n, ext, k, 1.0f, (float *)v[1].buf);
        select_extremes((const float *)v[0].buf, n, ext + nblocks, k, -1.0f, (float *)v[2].buf);
    }
    Py_END_ALLOW_THREADS
    if (status < 0)
        PyErr_NoMemory();
    else
        result = PyBool_FromLong(status);
done:
    free(ext);
    release_buffers(v, held);
    return result;
}

/* moments(hist, tables) -> (total0, total1, total2): HistogramMoments' tables (float64 rows mass,
   left0, left1) and totals of a float64 histogram, the same operations as its numpy code (the running
   sums in order, as np.cumsum; numpy's totals are pairwise sums: the two differ in the last bits) */
static PyObject *moments(PyObject *self, PyObject *args)
{
    static const struct want wants[2] = {{"hist", "float64", 0}, {"tables", "float64", 1}};
    PyObject *objs[2];
    Py_buffer v[2];
    double *mass, *left0, *left1, run0 = 0.0, run1 = 0.0, total2 = 0.0;
    const double *h;
    Py_ssize_t bins, j;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO:moments", &objs[0], &objs[1]) || get_buffers(objs, wants, 2, v) < 0)
        return NULL;
    bins = v[0].len / 8;
    if (bins < 1 || v[1].len != 3 * v[0].len) {
        PyErr_SetString(PyExc_ValueError, "moments: expected tables of 3 x len(hist)");
        release_buffers(v, 2);
        return NULL;
    }
    h = (const double *)v[0].buf;
    mass = (double *)v[1].buf;
    left0 = mass + bins;
    left1 = mass + 2 * bins;
    for (j = 0; j < bins; j++) {
        const double jj = (double)j, first = h[j] * (jj + 0.5);
        mass[j] = h[j];
        run0 += h[j];
        left0[j] = run0 - h[j];
        run1 += first;
        left1[j] = run1 - first;
        total2 += h[j] * (jj * (jj + 1.0) + 1.0 / 3.0);
    }
    release_buffers(v, 2);
    return Py_BuildValue("ddd", run0, run1, total2);
}

/* HistogramMoments._losses for one quantizer: see quant/histogram.py for the derivation */
static double loss(const double *mass, const double *left0, const double *left1, Py_ssize_t bins, double lo,
                   double width, const double totals[3], float c, float s32, float o32, float low, int qmin, int qmax)
{
    const double nbins = (double)bins;
    float first = rintf(low / s32) + o32, last = rintf(c / s32) + o32;  /* qmath.quantize, in float32 */
    double d, shift, top, sum = 0.0;
    int k;
    first = first < (float)qmin ? (float)qmin : (first > (float)qmax ? (float)qmax : first);
    last = last < (float)qmin ? (float)qmin : (last > (float)qmax ? (float)qmax : last);
    d = (double)s32 / width;
    shift = (0.5 - (double)o32) * d - lo / width;
    for (k = qmin; k < qmax; k++) {
        double u = (double)k * d, pos, t, ht, s0, s1;
        Py_ssize_t j;
        u = u + shift;
        pos = u > 0.0 ? u : 0.0;
        pos = pos < nbins ? pos : nbins;
        if ((double)k < (double)first)
            pos = 0.0;
        if ((double)k >= (double)last)
            pos = nbins;
        if (!(pos >= 0.0))  /* nan */
            pos = 0.0;
        j = (Py_ssize_t)pos;
        j = j < bins - 1 ? j : bins - 1;
        t = pos - (double)j;
        ht = mass[j] * t;
        s0 = left0[j] + ht;
        s1 = left1[j] + (t * 0.5 + (double)j) * ht;
        sum += s1 - s0 * u;
    }
    top = shift + ((double)qmax - 0.5) * d;
    return (totals[2] - 2.0 * top * totals[1] + top * top * totals[0] + 2.0 * d * sum) * (width * width);
}

static PyObject *losses(PyObject *self, PyObject *args)
{
    static const struct want wants[3] = {{"tables", "float64", 0}, {"quantizers", "float32", 0},
                                         {"losses", "float64", 1}};
    PyObject *objs[3];
    Py_buffer v[3];
    double lo, width, totals[3];
    int qmin, qmax;
    Py_ssize_t bins, rows, i;
    const double *t;
    const float *q;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOdddddii:losses", &objs[0], &objs[1], &objs[2], &lo, &width, &totals[0],
                          &totals[1], &totals[2], &qmin, &qmax))
        return NULL;
    if (qmin >= qmax || qmax - qmin > 1 << 16) {
        PyErr_Format(PyExc_ValueError, "losses: levels %d to %d", qmin, qmax);
        return NULL;
    }
    if (get_buffers(objs, wants, 3, v) < 0)
        return NULL;
    bins = v[0].len / 8 / 3;
    rows = v[2].len / 8;
    if (bins < 1 || v[0].len != bins * 3 * 8 || v[1].len != rows * 4 * 4) {
        PyErr_SetString(PyExc_ValueError, "losses: expected tables of 3 x bins and quantizers of 4 x rows");
        release_buffers(v, 3);
        return NULL;
    }
    t = (const double *)v[0].buf;
    q = (const float *)v[1].buf;
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < rows; i++)
        ((double *)v[2].buf)[i] = loss(t, t + bins, t + 2 * bins, bins, lo, width, totals, q[i], q[rows + i],
                                       q[2 * rows + i], q[3 * rows + i], qmin, qmax);
    Py_END_ALLOW_THREADS
    release_buffers(v, 3);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"histc", histc, METH_VARARGS, "histc(x, out, lo, a, b, rule): add torch.histc-rule bin counts of x to out"},
    {"clamped", clamped, METH_VARARGS, "clamped(x, out, step, shift): add clamped bin counts of x to out"},
    {"extremes", extremes, METH_VARARGS,
     "extremes(x, top, bottom, counts=None, step=0.0, shift=0.0) -> bool: sorted top-k and bottom-k (and counts)"},
    {"moments", moments, METH_VARARGS, "moments(hist, tables) -> (total0, total1, total2): closed-form tables"},
    {"losses", losses, METH_VARARGS,
     "losses(tables, quantizers, out, lo, width, total0, total1, total2, qmin, qmax): closed-form histogram losses"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "quant._histogram", "Calibration's histogram loops (see quant.histogram).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__histogram(void)
{
    return PyModule_Create(&module);
}
