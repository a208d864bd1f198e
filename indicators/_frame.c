/* The compiled twin of indicators.frame.PythonFrameIndicators: one timeframe's indicator set,
 * advanced one confirmed bar at a time, returning the same FrameState bit for bit.
 *
 * Why it exists: the symbol actors run ~100 of these updates at every quarter-hour boundary at
 * 25 symbols (2,000 at 500), and the Python recurrences cost ~8 us each, most of it the
 * interpreter rather than the arithmetic. Here the arithmetic is a few dozen double operations.
 *
 * Why the bits agree: every recurrence below is the Python one transcribed operation for
 * operation, in the same order, on IEEE doubles (a Python float is a C double). Nothing may be
 * reassociated or fused: the build passes -ffp-contract=off (an FMA rounds once where Python
 * rounds twice) and never -ffast-math. Each block names the Python it mirrors; a change there is
 * a change here, and tests/indicators/test_frame_compiled.py holds the two equal on the shipped
 * month and on adversarial series.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <structmember.h>

#define EPSILON 1e-10 /* indicators.pine.EPSILON: Pine's tolerant script comparisons */
#define DAY_MS 86400000LL
#define NA NAN

#include "_rolling_sum.h" /* RollingSum: math.sum, TradingView's rolling compensated sum */

/* --- indicators.ema.Ema: ta.ema, sma-seeded; an na bar is skipped whole ----------------------- */

typedef struct {
    int length;
    double alpha, value;
    RollingSum seed;
} Ema;

static int ema_init(Ema *e, int length) {
    e->length = length;
    e->alpha = 2.0 / (double)(length + 1);
    e->value = NA;
    return rs_init(&e->seed, length);
}

static double ema_update(Ema *e, double x) {
    if (x != x)
        return NA;
    double v = e->value;
    if (v == v)
        v = e->length == 1 ? x : v + e->alpha * (x - v);
    else
        v = rs_update(&e->seed, x) / (double)e->length;
    e->value = v;
    return v;
}

/* --- indicators.rolling_sum.Sma: math.sum / length ------------------------------------------ */

static double sma_update(RollingSum *r, double x) { return rs_update(r, x) / (double)r->n; }

/* --- indicators.pine: math.max / math.min propagate na ------------------------------------- */

static double pine_max(double a, double b) {
    if (a != a || b != b)
        return NA;
    return a >= b ? a : b;
}

static double pine_min(double a, double b) {
    if (a != a || b != b)
        return NA;
    return a <= b ? a : b;
}

/* --- a ring of the last ``hist_len`` values, read oldest first (the frame's deques) --------- */

typedef struct {
    int size, count, head;
    PyObject **items;
} Ring;

static int ring_init(Ring *g, int size) {
    g->size = size;
    g->count = g->head = 0;
    g->items = PyMem_Calloc((size_t)size, sizeof(PyObject *));
    if (g->items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void ring_free(Ring *g) {
    if (g->items != NULL)
        for (int i = 0; i < g->size; i++)
            Py_CLEAR(g->items[i]);
    PyMem_Free(g->items);
    g->items = NULL;
}

/* Takes a new reference to ``v``. */
static void ring_push(Ring *g, PyObject *v) {
    Py_INCREF(v);
    Py_XSETREF(g->items[g->head], v);
    g->head = g->head + 1 == g->size ? 0 : g->head + 1;
    if (g->count < g->size)
        g->count += 1;
}

static PyObject *ring_tuple(Ring *g) {
    PyObject *t = PyTuple_New(g->count);
    if (t == NULL)
        return NULL;
    int i = g->count < g->size ? 0 : g->head;
    for (int k = 0; k < g->count; k++) {
        PyObject *v = g->items[i];
        Py_INCREF(v);
        PyTuple_SET_ITEM(t, k, v);
        i = i + 1 == g->size ? 0 : i + 1;
    }
    return t;
}

/* --- the frame ---------------------------------------------------------------------------- */

enum { N_FIELDS = 27 };

/* FrameState's fields in declaration order: ``values[i]`` below fills the i-th. */
static const char *const FIELDS[N_FIELDS] = {
    "interval", "start_ms", "open", "high", "low", "close", "volume", "ha_open", "ha_high", "ha_low",
    "ha_close", "ha_streak", "wt1", "wt2", "wt_cross_up", "wt_cross_down", "wt_oversold", "wt_overbought",
    "mfi", "rsi_mfi_area", "ema200", "vwap", "wt1_hist", "wt2_hist", "ha_streak_hist", "high_hist", "low_hist",
};

static PyObject *FrameState;         /* vocabulary.messages.FrameState */
static PyObject *FieldNames;         /* its field names, in order: the call's keywords */
static PyObject *S_symbol, *S_interval, *S_start_ms, *S_open, *S_high, *S_low, *S_close, *S_volume,
    *S_confirmed;

typedef struct {
    PyObject_HEAD
    int interval;
    PyObject *interval_obj, *params, *last;
    int64_t last_start;
    /* indicators.heikin_ashi.HeikinAshi */
    double ha_open, ha_close;
    long streak;
    /* indicators.wavetrend.CipherB = WaveTrend + Cross */
    Ema esa, d, wt1;
    RollingSum wt2;
    int side;
    double oversold, overbought;
    /* indicators.mfi.Mfi */
    double mfi_prev;
    RollingSum mfi_upper, mfi_lower;
    /* indicators.mfi.RsiMfiArea */
    RollingSum area;
    double area_multiplier, area_pos_y;
    /* indicators.ema.Ema */
    Ema ema;
    /* indicators.vwap.SessionVwap */
    int64_t session_start_ms, day;
    int has_day;
    double sum_v, sum_pv;
    /* the frame's history deques */
    Ring wt1_hist, wt2_hist, streak_hist, high_hist, low_hist;
} Frame;

static void frame_dealloc(Frame *self) {
    Py_XDECREF(self->interval_obj);
    Py_XDECREF(self->params);
    Py_XDECREF(self->last);
    RollingSum *sums[] = {&self->esa.seed, &self->d.seed, &self->wt1.seed, &self->wt2, &self->mfi_upper,
                          &self->mfi_lower, &self->area, &self->ema.seed};
    for (size_t i = 0; i < sizeof sums / sizeof sums[0]; i++)
        rs_free(sums[i]);
    Ring *rings[] = {&self->wt1_hist, &self->wt2_hist, &self->streak_hist, &self->high_hist, &self->low_hist};
    for (size_t i = 0; i < sizeof rings / sizeof rings[0]; i++)
        ring_free(rings[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* An int parameter of ``params`` that must be >= 1 (RollingSum's and Ema's own refusal). */
static int length_param(PyObject *params, const char *name, int *out) {
    PyObject *v = PyObject_GetAttrString(params, name);
    if (v == NULL)
        return -1;
    long n = PyLong_AsLong(v);
    Py_DECREF(v);
    if (n == -1 && PyErr_Occurred())
        return -1;
    if (n < 1 || n > INT_MAX / 2) {
        PyErr_Format(PyExc_ValueError, "length must be >= 1, got %ld", n);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int float_param(PyObject *params, const char *name, double *out) {
    PyObject *v = PyObject_GetAttrString(params, name);
    if (v == NULL)
        return -1;
    *out = PyFloat_AsDouble(v);
    Py_DECREF(v);
    return *out == -1.0 && PyErr_Occurred() ? -1 : 0;
}

static int frame_init(Frame *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"interval", "params", "hist_len", NULL};
    PyObject *interval_obj, *params = NULL;
    int hist_len = 16;
    if (self->params != NULL) {
        PyErr_SetString(PyExc_TypeError, "FrameIndicators is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!|Oi", kwlist, &PyLong_Type, &interval_obj, &params, &hist_len))
        return -1;
    if (hist_len < 1) {
        PyErr_Format(PyExc_ValueError, "hist_len must be >= 1, got %d", hist_len);
        return -1;
    }
    if (params == NULL || params == Py_None) {
        PyObject *module = PyImport_ImportModule("indicators.params");
        if (module == NULL)
            return -1;
        params = PyObject_CallMethod(module, "IndicatorParams", NULL);
        Py_DECREF(module);
        if (params == NULL)
            return -1;
    } else {
        Py_INCREF(params);
    }
    self->params = params;
    long interval = PyLong_AsLong(interval_obj);
    if (interval == -1 && PyErr_Occurred())
        return -1;
    self->interval = (int)interval;
    Py_INCREF(interval_obj);
    self->interval_obj = interval_obj;

    int channel, average, ma, mfi_length, area_period, ema_length;
    if (length_param(params, "wt_channel", &channel) < 0 || length_param(params, "wt_average", &average) < 0 ||
        length_param(params, "wt_ma", &ma) < 0 || length_param(params, "mfi_length", &mfi_length) < 0 ||
        length_param(params, "rsi_mfi_period", &area_period) < 0 || length_param(params, "ema_length", &ema_length) < 0 ||
        float_param(params, "oversold", &self->oversold) < 0 || float_param(params, "overbought", &self->overbought) < 0 ||
        float_param(params, "rsi_mfi_multiplier", &self->area_multiplier) < 0 ||
        float_param(params, "rsi_mfi_pos_y", &self->area_pos_y) < 0)
        return -1;
    PyObject *start = PyObject_GetAttrString(params, "vwap_session_start_ms");
    if (start == NULL)
        return -1;
    self->session_start_ms = PyLong_AsLongLong(start);
    Py_DECREF(start);
    if (self->session_start_ms == -1 && PyErr_Occurred())
        return -1;

    self->ha_open = self->ha_close = NA;
    self->streak = 0;
    self->side = 0;
    self->mfi_prev = NA;
    self->has_day = 0;
    self->sum_v = self->sum_pv = 0.0;
    if (ema_init(&self->esa, channel) < 0 || ema_init(&self->d, channel) < 0 || ema_init(&self->wt1, average) < 0 ||
        rs_init(&self->wt2, ma) < 0 || rs_init(&self->mfi_upper, mfi_length) < 0 ||
        rs_init(&self->mfi_lower, mfi_length) < 0 || rs_init(&self->area, area_period) < 0 ||
        ema_init(&self->ema, ema_length) < 0 || ring_init(&self->wt1_hist, hist_len) < 0 ||
        ring_init(&self->wt2_hist, hist_len) < 0 || ring_init(&self->streak_hist, hist_len) < 0 ||
        ring_init(&self->high_hist, hist_len) < 0 || ring_init(&self->low_hist, hist_len) < 0)
        return -1;
    return 0;
}

/* Pine's na becomes None at the message boundary (indicators.frame._value). */
static PyObject *value_or_none(double x) {
    if (x != x)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(x);
}

static double as_double(PyObject *v) { return PyFloat_Check(v) ? PyFloat_AS_DOUBLE(v) : PyFloat_AsDouble(v); }

static PyObject *frame_update(Frame *self, PyObject *kline) {
    PyObject *values[N_FIELDS] = {NULL};
    PyObject *result = NULL;
    PyObject *symbol = NULL, *interval = NULL, *start = NULL, *confirmed = NULL;
    PyObject *o_obj = NULL, *h_obj = NULL, *l_obj = NULL, *c_obj = NULL, *v_obj = NULL;

    /* The same refusals as the Python update, in the same order. */
    if ((confirmed = PyObject_GetAttr(kline, S_confirmed)) == NULL || (interval = PyObject_GetAttr(kline, S_interval)) == NULL ||
        (start = PyObject_GetAttr(kline, S_start_ms)) == NULL)
        goto done;
    int truth = PyObject_IsTrue(confirmed);
    if (truth < 0)
        goto done;
    if (!truth) {
        if ((symbol = PyObject_GetAttr(kline, S_symbol)) != NULL)
            PyErr_Format(PyExc_ValueError, "%S %Sm bar at %S is not confirmed", symbol, interval, start);
        goto done;
    }
    long tf = PyLong_AsLong(interval);
    if (tf == -1 && PyErr_Occurred())
        goto done;
    if (tf != self->interval) {
        if ((symbol = PyObject_GetAttr(kline, S_symbol)) != NULL)
            PyErr_Format(PyExc_ValueError, "%S: a %Sm bar fed to the %dm indicators", symbol, interval, self->interval);
        goto done;
    }
    long long start_ms = PyLong_AsLongLong(start);
    if (start_ms == -1 && PyErr_Occurred())
        goto done;
    if (self->last != NULL && start_ms <= self->last_start) {
        if ((symbol = PyObject_GetAttr(kline, S_symbol)) != NULL)
            PyErr_Format(PyExc_ValueError, "%S %dm bar at %S is not after the last one (%lld)", symbol, self->interval,
                         start, (long long)self->last_start);
        goto done;
    }
    if ((o_obj = PyObject_GetAttr(kline, S_open)) == NULL || (h_obj = PyObject_GetAttr(kline, S_high)) == NULL ||
        (l_obj = PyObject_GetAttr(kline, S_low)) == NULL || (c_obj = PyObject_GetAttr(kline, S_close)) == NULL ||
        (v_obj = PyObject_GetAttr(kline, S_volume)) == NULL)
        goto done;
    double o = as_double(o_obj), h = as_double(h_obj), low = as_double(l_obj), c = as_double(c_obj),
           v = as_double(v_obj);
    if (PyErr_Occurred())
        goto done;
    double src = (h + low + c) / 3; /* pine.hlc3 */

    /* HeikinAshi.update */
    double prev_open = self->ha_open;
    double ha_close = (o + h + low + c) / 4; /* pine.ohlc4 */
    double ha_open = prev_open != prev_open ? (o + c) / 2 : (prev_open + self->ha_close) / 2;
    self->ha_open = ha_open;
    self->ha_close = ha_close;
    double diff = ha_close - ha_open; /* heikin_ashi.next_streak */
    long streak = self->streak;
    if (diff > EPSILON)
        streak = streak > 0 ? streak + 1 : 1;
    else if (diff < -EPSILON)
        streak = streak < 0 ? streak - 1 : -1;
    else
        streak = 0;
    self->streak = streak;
    double ha_high = pine_max(h, pine_max(ha_open, ha_close));
    double ha_low = pine_min(low, pine_min(ha_open, ha_close));

    /* CipherB.update: WaveTrend.update, then Cross.update and the script tests */
    double dev = src - ema_update(&self->esa, src);
    double den = 0.015 * ema_update(&self->d, fabs(dev));
    double wt1 = ema_update(&self->wt1, den == 0.0 ? NA : dev / den);
    double wt2 = sma_update(&self->wt2, wt1);
    int side = self->side;
    int crossed = (side < 0 && wt1 > wt2) || (side > 0 && wt1 < wt2);
    double gap_cross = wt1 - wt2;
    if (gap_cross < -EPSILON)
        self->side = -1;
    else if (gap_cross > EPSILON)
        self->side = 1;
    double gap = wt2 - wt1;
    int cross_up = crossed && gap <= EPSILON;
    int cross_down = crossed && gap >= -EPSILON;
    int oversold = wt2 - self->oversold <= EPSILON;
    int overbought = wt2 - self->overbought >= -EPSILON;

    /* Mfi.update */
    double mfi = NA;
    if (src == src) {
        double chg = src - self->mfi_prev;
        self->mfi_prev = src;
        int first = chg != chg;
        double upper = rs_update(&self->mfi_upper, v * (!first && chg <= EPSILON ? 0.0 : src));
        double lower = rs_update(&self->mfi_lower, v * (!first && chg >= -EPSILON ? 0.0 : src));
        if (upper != upper || lower != lower)
            mfi = NA;
        else if (-EPSILON <= lower && lower <= EPSILON)
            mfi = 100.0;
        else {
            if (-EPSILON <= upper && upper <= EPSILON)
                upper = 0.0;
            double b = 1.0 + upper / lower;
            mfi = 100.0 - (b == 0.0 ? NA : 100.0 / b); /* pine.div */
        }
    }

    /* RsiMfiArea.update */
    double rng = h - low;
    double area = sma_update(&self->area, rng == 0.0 ? NA : ((c - o) / rng) * self->area_multiplier) - self->area_pos_y;

    /* Ema.update (the EMA200) */
    double ema = ema_update(&self->ema, c);

    /* SessionVwap.update */
    double vwap = NA;
    if (src == src) {
        int64_t shifted = (int64_t)start_ms - self->session_start_ms;
        int64_t day = shifted / DAY_MS;
        if (shifted % DAY_MS != 0 && shifted < 0)
            day -= 1; /* Python's // floors */
        double sum_v, sum_pv;
        if (!self->has_day || day != self->day) {
            self->has_day = 1;
            self->day = day;
            sum_v = v;
            sum_pv = src * v;
        } else {
            sum_v = self->sum_v + v;
            sum_pv = self->sum_pv + src * v;
        }
        self->sum_v = sum_v;
        self->sum_pv = sum_pv;
        vwap = sum_v == 0.0 ? NA : sum_pv / sum_v;
    }

    /* The FrameState, its fields in declaration order. */
    PyObject *wt1_obj = value_or_none(wt1), *wt2_obj = value_or_none(wt2), *streak_obj = PyLong_FromLong(streak);
    values[12] = wt1_obj;
    values[13] = wt2_obj;
    values[11] = streak_obj;
    if (wt1_obj == NULL || wt2_obj == NULL || streak_obj == NULL)
        goto done;
    ring_push(&self->wt1_hist, wt1_obj);
    ring_push(&self->wt2_hist, wt2_obj);
    ring_push(&self->streak_hist, streak_obj);
    ring_push(&self->high_hist, h_obj);
    ring_push(&self->low_hist, l_obj);
    Py_INCREF(self->interval_obj);
    values[0] = self->interval_obj;
    values[1] = start;
    start = NULL;
    values[2] = o_obj;
    values[3] = h_obj;
    values[4] = l_obj;
    values[5] = c_obj;
    values[6] = v_obj;
    o_obj = h_obj = l_obj = c_obj = v_obj = NULL;
    values[7] = PyFloat_FromDouble(ha_open);
    values[8] = PyFloat_FromDouble(ha_high);
    values[9] = PyFloat_FromDouble(ha_low);
    values[10] = PyFloat_FromDouble(ha_close);
    values[14] = PyBool_FromLong(cross_up);
    values[15] = PyBool_FromLong(cross_down);
    values[16] = PyBool_FromLong(oversold);
    values[17] = PyBool_FromLong(overbought);
    values[18] = value_or_none(mfi);
    values[19] = value_or_none(area);
    values[20] = value_or_none(ema);
    values[21] = value_or_none(vwap);
    values[22] = ring_tuple(&self->wt1_hist);
    values[23] = ring_tuple(&self->wt2_hist);
    values[24] = ring_tuple(&self->streak_hist);
    values[25] = ring_tuple(&self->high_hist);
    values[26] = ring_tuple(&self->low_hist);
    for (int i = 0; i < N_FIELDS; i++)
        if (values[i] == NULL)
            goto done;
    result = PyObject_Vectorcall(FrameState, values, 0, FieldNames);
    if (result != NULL) {
        Py_INCREF(result);
        Py_XSETREF(self->last, result);
        self->last_start = start_ms;
    }

done:
    for (int i = 0; i < N_FIELDS; i++)
        Py_XDECREF(values[i]);
    Py_XDECREF(symbol);
    Py_XDECREF(interval);
    Py_XDECREF(start);
    Py_XDECREF(confirmed);
    Py_XDECREF(o_obj);
    Py_XDECREF(h_obj);
    Py_XDECREF(l_obj);
    Py_XDECREF(c_obj);
    Py_XDECREF(v_obj);
    return result;
}

static PyObject *frame_get_last(Frame *self, void *closure) {
    (void)closure;
    if (self->last == NULL)
        Py_RETURN_NONE;
    Py_INCREF(self->last);
    return self->last;
}

static PyObject *frame_get_interval(Frame *self, void *closure) {
    (void)closure;
    Py_INCREF(self->interval_obj);
    return self->interval_obj;
}

static PyObject *frame_get_params(Frame *self, void *closure) {
    (void)closure;
    Py_INCREF(self->params);
    return self->params;
}

static PyMethodDef frame_methods[] = {
    {"update", (PyCFunction)frame_update, METH_O,
     "update(kline) -> FrameState: the next confirmed bar of this interval, in strictly increasing time."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef frame_getset[] = {
    {"last", (getter)frame_get_last, NULL, "The FrameState of the last bar fed, or None.", NULL},
    {"interval", (getter)frame_get_interval, NULL, "The timeframe in minutes.", NULL},
    {"params", (getter)frame_get_params, NULL, "The IndicatorParams.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject FrameType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "indicators._frame.FrameIndicators",
    .tp_basicsize = sizeof(Frame),
    .tp_dealloc = (destructor)frame_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The compiled FrameIndicators: the same FrameState, bit for bit, as the Python one.",
    .tp_methods = frame_methods,
    .tp_getset = frame_getset,
    .tp_init = (initproc)frame_init,
    .tp_new = PyType_GenericNew,
};

static int intern(PyObject **slot, const char *name) {
    *slot = PyUnicode_InternFromString(name);
    return *slot == NULL ? -1 : 0;
}

static int frame_exec(PyObject *module) {
    if (intern(&S_symbol, "symbol") < 0 || intern(&S_interval, "interval") < 0 || intern(&S_start_ms, "start_ms") < 0 ||
        intern(&S_open, "open") < 0 || intern(&S_high, "high") < 0 || intern(&S_low, "low") < 0 ||
        intern(&S_close, "close") < 0 || intern(&S_volume, "volume") < 0 || intern(&S_confirmed, "confirmed") < 0)
        return -1;
    PyObject *messages = PyImport_ImportModule("vocabulary.messages");
    if (messages == NULL)
        return -1;
    FrameState = PyObject_GetAttrString(messages, "FrameState");
    Py_DECREF(messages);
    if (FrameState == NULL)
        return -1;
    /* The keywords are the struct's own field names (msgspec matches them by identity when they
     * come in declaration order); a field added, removed or moved there fails the import here,
     * and indicators.frame falls back to the Python set, rather than filling the wrong field. */
    FieldNames = PyObject_GetAttrString(FrameState, "__struct_fields__");
    if (FieldNames == NULL)
        return -1;
    int same = PyTuple_Check(FieldNames) && PyTuple_GET_SIZE(FieldNames) == N_FIELDS;
    for (int i = 0; same && i < N_FIELDS; i++)
        same = PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(FieldNames, i), FIELDS[i]) == 0;
    if (!same) {
        PyErr_SetString(PyExc_ImportError, "FrameState's fields are not the ones indicators/_frame.c fills");
        return -1;
    }
    if (PyType_Ready(&FrameType) < 0)
        return -1;
    Py_INCREF(&FrameType);
    if (PyModule_AddObject(module, "FrameIndicators", (PyObject *)&FrameType) < 0) {
        Py_DECREF(&FrameType);
        return -1;
    }
    return 0;
}

static struct PyModuleDef frame_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "indicators._frame",
    .m_doc = "The compiled twin of indicators.frame.PythonFrameIndicators (see indicators/_frame.c).",
    .m_size = 0,
};

PyMODINIT_FUNC PyInit__frame(void) {
    PyObject *module = PyModule_Create(&frame_module);
    if (module == NULL)
        return NULL;
    if (frame_exec(module) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
