/* The inner loops of activation calibration (quant.histogram): exact bin counts of float32 values, and
   the closed-form error of quantizing a histogram.

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

   losses(tables, quantizers, out, lo, width, total0, total1, total2, qmin, qmax)
     out[i] = HistogramMoments' loss of quantizer i (quantizers: float32 rows c, scale, offset, low;
     tables: float64 rows mass, left0, left1), the same float64 operations as its numpy code, the sum
     over the boundaries in order (numpy sums pairwise: the two differ in the last bits).

   Every index is clamped to the counters (tables) before it is used, whatever the data (nan
   included), so no input can read or write outside them. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512
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

/* out[0:bins] += counts of x; returns -1 (memory) or 0 */
static int count(const float *x, Py_ssize_t n, const struct params *p, Py_ssize_t bins, int64_t *out)
{
    /* the second copy pays for its zeroing and summing only on enough data */
    const Py_ssize_t copies = n >= 4 * bins ? 2 : 1;
    uint32_t *c = malloc(sizeof(uint32_t) * (size_t)(copies * bins));
    uint32_t *c1 = c + (copies - 1) * bins;
    int32_t idx[BLOCK];
    Py_ssize_t start, i, j;
    if (c == NULL)
        return -1;
    for (start = 0; start < n; start += CHUNK) {
        Py_ssize_t end = n - start < CHUNK ? n : start + CHUNK;
        memset(c, 0, sizeof(uint32_t) * (size_t)(copies * bins));
        for (i = start; i < end; i += BLOCK) {
            Py_ssize_t m = end - i < BLOCK ? end - i : BLOCK;
            indices(x + i, m, p, idx);
            for (j = 0; j + 2 <= m; j += 2) {
                c[idx[j]]++;
                c1[idx[j + 1]]++;
            }
            if (j < m)
                c[idx[j]]++;
        }
        if (copies == 2)
            for (j = 0; j < bins; j++)
                out[j] += (int64_t)c[j] + c1[j];
        else
            for (j = 0; j < bins; j++)
                out[j] += c[j];
    }
    free(c);
    return 0;
}

/* a C-contiguous buffer of `itemsize`-byte items of one of the struct `codes` */
static int get_buffer(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t itemsize, const char *codes,
                      const char *what)
{
    const char *format;
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    format = view->format ? view->format : "B";
    if (*format == '<' || *format == '=' || *format == '@')
        format++;
    if (view->itemsize != itemsize || strlen(format) != 1 || strchr(codes, *format) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: expected a contiguous buffer of %s", what,
                     itemsize == 4 ? "float32" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *run(PyObject *xobj, PyObject *outobj, struct params *p, Py_ssize_t extra)
{
    Py_buffer x, out;
    Py_ssize_t bins;
    int status;
    if (get_buffer(xobj, &x, 0, 4, "f", "values") < 0)
        return NULL;
    if (get_buffer(outobj, &out, 1, 8, "ql", "counts") < 0) {
        PyBuffer_Release(&x);
        return NULL;
    }
    bins = out.len / 8;
    if (bins <= extra || bins > INT32_MAX) {
        PyErr_Format(PyExc_ValueError, "counts: %zd bins", bins - extra);
        PyBuffer_Release(&out);
        PyBuffer_Release(&x);
        return NULL;
    }
    p->last = (float)(bins - 1);
    Py_BEGIN_ALLOW_THREADS
    status = count((const float *)x.buf, x.len / 4, p, bins, (int64_t *)out.buf);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    PyBuffer_Release(&x);
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
    PyObject *tobj, *qobj, *oobj;
    Py_buffer tables, quantizers, out;
    double lo, width, totals[3];
    int qmin, qmax;
    Py_ssize_t bins, rows, i;
    const float *q;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOOdddddii:losses", &tobj, &qobj, &oobj, &lo, &width, &totals[0], &totals[1],
                          &totals[2], &qmin, &qmax))
        return NULL;
    if (qmin >= qmax || qmax - qmin > 1 << 16) {
        PyErr_Format(PyExc_ValueError, "losses: levels %d to %d", qmin, qmax);
        return NULL;
    }
    if (get_buffer(tobj, &tables, 0, 8, "d", "tables") < 0)
        return NULL;
    if (get_buffer(qobj, &quantizers, 0, 4, "f", "quantizers") < 0) {
        PyBuffer_Release(&tables);
        return NULL;
    }
    if (get_buffer(oobj, &out, 1, 8, "d", "losses") < 0) {
        PyBuffer_Release(&quantizers);
        PyBuffer_Release(&tables);
        return NULL;
    }
    bins = tables.len / 8 / 3;
    rows = out.len / 8;
    if (bins < 1 || tables.len != bins * 3 * 8 || quantizers.len != rows * 4 * 4) {
        PyErr_SetString(PyExc_ValueError, "losses: expected tables of 3 x bins and quantizers of 4 x rows");
        PyBuffer_Release(&out);
        PyBuffer_Release(&quantizers);
        PyBuffer_Release(&tables);
        return NULL;
    }
    q = (const float *)quantizers.buf;
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < rows; i++) {
        const double *t = (const double *)tables.buf;
        ((double *)out.buf)[i] = loss(t, t + bins, t + 2 * bins, bins, lo, width, totals, q[i], q[rows + i],
                                      q[2 * rows + i], q[3 * rows + i], qmin, qmax);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    PyBuffer_Release(&quantizers);
    PyBuffer_Release(&tables);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"histc", histc, METH_VARARGS, "histc(x, out, lo, a, b, rule): add torch.histc-rule bin counts of x to out"},
    {"clamped", clamped, METH_VARARGS, "clamped(x, out, step, shift): add clamped bin counts of x to out"},
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
