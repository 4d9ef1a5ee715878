/* Prometheus text exposition: collectors write samples into a list, which is
 * then grouped by metric name (one HELP/TYPE header each) and printed. */
#include "core/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

struct collector {
	c360_metrics_collect fn;
	void *ctx;
};

struct c360_metrics {
	pthread_mutex_t lock;
	struct collector *c;
	size_t n, cap;
};

struct sample {
	const char *name, *help, *type;
	char labels[256];
	double value;
	size_t order;
};

struct c360_metrics_out {
	struct sample *s;
	size_t n, cap;
};

c360_metrics *c360_metrics_new(void)
{
	c360_metrics *m = calloc(1, sizeof *m);
	if (m)
		pthread_mutex_init(&m->lock, NULL);
	return m;
}

void c360_metrics_free(c360_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->c);
	free(m);
}

c360_rc c360_metrics_add(c360_metrics *m, c360_metrics_collect fn, void *ctx)
{
	pthread_mutex_lock(&m->lock);
	c360_rc rc = C360_OK;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		struct collector *c = realloc(m->c, cap * sizeof *c);
		if (!c) {
			rc = C360_ERR_NOMEM;
			goto out;
		}
		m->c = c;
		m->cap = cap;
	}
	m->c[m->n++] = (struct collector){fn, ctx};
out:
	pthread_mutex_unlock(&m->lock);
	return rc;
}

void c360_metrics_remove(c360_metrics *m, c360_metrics_collect fn, void *ctx)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++) {
		if (m->c[i].fn == fn && m->c[i].ctx == ctx) {
			memmove(&m->c[i], &m->c[i + 1], (m->n - i - 1) * sizeof *m->c);
			m->n--;
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

/* "a=b,c=d" → a="b",c="d" with \, " and newline escaped. */
static void format_labels(const char *in, const char *extra, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	const char *parts[2] = {in, extra};
	for (int p = 0; p < 2; p++) {
		const char *s = parts[p];
		while (s && *s && n + 8 < len) {
			const char *eq = strchr(s, '=');
			if (!eq)
				break;
			if (n)
				out[n++] = ',';
			size_t kl = (size_t)(eq - s);
			if (n + kl + 3 >= len)
				break;
			memcpy(out + n, s, kl);
			n += kl;
			out[n++] = '=';
			out[n++] = '"';
			s = eq + 1;
			for (; *s && *s != ',' && n + 4 < len; s++) {
				if (*s == '\\' || *s == '"') {
					out[n++] = '\\';
					out[n++] = *s;
				} else if (*s == '\n') {
					out[n++] = '\\';
					out[n++] = 'n';
				} else {
					out[n++] = *s;
				}
			}
			out[n++] = '"';
			if (*s == ',')
				s++;
		}
	}
	out[n] = '\0';
}

static void add(struct c360_metrics_out *out, const char *name, const char *help,
		const char *type, const char *labels, const char *extra, double value)
{
	if (out->n == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 64;
		struct sample *s = realloc(out->s, cap * sizeof *s);
		if (!s)
			return;
		out->s = s;
		out->cap = cap;
	}
	struct sample *s = &out->s[out->n];
	s->name = name;
	s->help = help;
	s->type = type;
	s->value = value;
	s->order = out->n++;
	format_labels(labels, extra, s->labels, sizeof s->labels);
}

void c360_metric_counter(struct c360_metrics_out *out, const char *name, const char *help,
			 const char *labels, double value)
{
	add(out, name, help, "counter", labels, NULL, value);
}

void c360_metric_gauge(struct c360_metrics_out *out, const char *name, const char *help,
		       const char *labels, double value)
{
	add(out, name, help, "gauge", labels, NULL, value);
}

void c360_metric_quantile(struct c360_metrics_out *out, const char *name, const char *help,
			  const char *labels, const char *quantile, double value)
{
	char q[32];
	snprintf(q, sizeof q, "quantile=%s", quantile);
	add(out, name, help, "summary", labels, q, value);
}

static int by_name(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

c360_rc c360_metrics_render(c360_metrics *m, struct c360_buf *buf)
{
	struct c360_metrics_out out = {0};
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n; i++)
		m->c[i].fn(m->c[i].ctx, &out);
	pthread_mutex_unlock(&m->lock);
	qsort(out.s, out.n, sizeof *out.s, by_name);
	c360_rc rc = C360_OK;
	for (size_t i = 0; i < out.n && !rc; i++) {
		struct sample *s = &out.s[i];
		if (i == 0 || strcmp(s->name, out.s[i - 1].name))
			rc = c360_buf_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", s->name,
					     s->help ? s->help : "", s->name, s->type);
		if (rc)
			break;
		char num[64];
		if (isnan(s->value))
			snprintf(num, sizeof num, "NaN");
		else if (s->value == floor(s->value) && fabs(s->value) < 1e15)
			snprintf(num, sizeof num, "%.0f", s->value);
		else
			snprintf(num, sizeof num, "%.9g", s->value);
		rc = s->labels[0] ? c360_buf_printf(buf, "%s{%s} %s\n", s->name, s->labels, num)
				  : c360_buf_printf(buf, "%s %s\n", s->name, num);
	}
	free(out.s);
	return rc;
}
