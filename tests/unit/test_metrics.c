/* /metrics exposition: grouping by name, label escaping, value formats. */
#include "core/metrics.h"
#include "test.h"

static void collect_source(void *ctx, struct c360_metrics_out *out)
{
	const char *labels = ctx;
	c360_metric_counter(out, "c360_source_records_in_total", "records read", labels, 42);
	c360_metric_gauge(out, "c360_store_bytes", "store size", NULL, 1.5);
}

static void collect_fn(void *ctx, struct c360_metrics_out *out)
{
	c360_metric_quantile(out, "c360_function_handler_seconds", "handler latency",
			     "function=customer360", "0.99", 0.00025);
	c360_metric_counter(out, "c360_source_records_in_total", "records read",
			    "source=we\"ird\\name", 7);
}

TEST(render)
{
	c360_metrics *m = c360_metrics_new();
	REQUIRE(m);
	CHECK(c360_metrics_add(m, collect_source, "source=loyalty,type=csv") == C360_OK);
	CHECK(c360_metrics_add(m, collect_fn, NULL) == C360_OK);
	struct c360_buf b;
	c360_buf_init(&b, 0);
	CHECK(c360_metrics_render(m, &b) == C360_OK);
	const char *t = c360_buf_cstr(&b);
	CHECK(strstr(t, "# HELP c360_source_records_in_total records read\n"
			"# TYPE c360_source_records_in_total counter\n"
			"c360_source_records_in_total{source=\"loyalty\",type=\"csv\"} 42\n"
			"c360_source_records_in_total{source=\"we\\\"ird\\\\name\"} 7\n") != NULL);
	CHECK(strstr(t, "c360_store_bytes 1.5\n") != NULL);
	CHECK(strstr(t, "# TYPE c360_function_handler_seconds summary\n"
			"c360_function_handler_seconds{function=\"customer360\",quantile=\"0.99\"} 0.00025\n") != NULL);
	/* one header per name */
	const char *first = strstr(t, "# TYPE c360_source_records_in_total");
	CHECK(first && !strstr(first + 1, "# TYPE c360_source_records_in_total"));
	c360_metrics_remove(m, collect_fn, NULL);
	c360_buf_reset(&b);
	CHECK(c360_metrics_render(m, &b) == C360_OK);
	CHECK(strstr(c360_buf_cstr(&b), "handler_seconds") == NULL);
	c360_buf_release(&b);
	c360_metrics_free(m);
}

int main(void)
{
	RUN(render);
	return test_summary();
}
