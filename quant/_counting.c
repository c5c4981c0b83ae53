/* Exact bin counts of float32 values: the inner loop of activation calibration (quant.counting).

   Each rule below is a torch expression in quant/counting.py, computed here with the same float32
   operations in the same order (the build turns off the contraction of a multiply and an add into
   one fused operation), so both give the same counts; the tests compare them. One pass over the
   data, no temporaries the size of the data: bin indices for a block of values (vectorized), then the
   counts, spread over four copies of the counters so that a run of equal values (a ReLU's zeros)
   does not make each increment wait for the previous one.

   histc(x, out, lo, a, b, rule)   out (int64, bins) += counts, bin = trunc(p) for
       rule 0: p = (x - lo) / a
       rule 1: p = ((x - lo) * a) / b
       rule 2: p = min(((x - lo) / b) * a, a)
     with the top edge (bin == bins) in the last bin, as torch.histc.
   clamped(x, out, step, shift)    out (int64, bins + 2) += counts, bin = trunc(clamp(x * step + shift,
     0, bins + 1)).

   Every index is clamped to the counters in float before the conversion, whatever the data (nan
   included), so no input can write outside `out`. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 512
#define COPIES 4
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
    uint32_t *c = malloc(sizeof(uint32_t) * COPIES * (size_t)bins);
    int32_t idx[BLOCK];
    Py_ssize_t start, i, j;
    if (c == NULL)
        return -1;
    for (start = 0; start < n; start += CHUNK) {
        Py_ssize_t end = n - start < CHUNK ? n : start + CHUNK;
        uint32_t *c0 = c, *c1 = c + bins, *c2 = c + 2 * bins, *c3 = c + 3 * bins;
        memset(c, 0, sizeof(uint32_t) * COPIES * (size_t)bins);
        for (i = start; i < end; i += BLOCK) {
            Py_ssize_t m = end - i < BLOCK ? end - i : BLOCK;
            indices(x + i, m, p, idx);
            for (j = 0; j + 4 <= m; j += 4) {
                c0[idx[j]]++;
                c1[idx[j + 1]]++;
                c2[idx[j + 2]]++;
                c3[idx[j + 3]]++;
            }
            for (; j < m; j++)
                c0[idx[j]]++;
        }
        for (j = 0; j < bins; j++)
            out[j] += (int64_t)c0[j] + c1[j] + c2[j] + c3[j];
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

static PyMethodDef methods[] = {
    {"histc", histc, METH_VARARGS, "histc(x, out, lo, a, b, rule): add torch.histc-rule bin counts of x to out"},
    {"clamped", clamped, METH_VARARGS, "clamped(x, out, step, shift): add clamped bin counts of x to out"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "quant._counting", "Exact bin counts of float32 values (see quant.counting).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__counting(void)
{
    return PyModule_Create(&module);
}
