/* The mock online store's JSON lines loader (customers, orders, products). */
#include "sources/rest/mockstore_data.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/banned.h"

#define LINE_MAX_BYTES (1u << 20)

/* One JSON lines record: a customer (has "Email"), an order (has
 * "OrderId" and "CustomerId") or a product (has "ProductId", no "OrderId"). */
static c360_rc load_line(struct ms_data *d, const char *line, size_t len, char *why,
			 size_t whylen)
{
	c360_json_doc *doc = NULL;
	struct c360_json_error jerr;
	c360_rc rc = c360_json_parse(line, len, NULL, &doc, &jerr);
	if (rc) {
		c360_json_error_str(&jerr, why, whylen);
		return rc;
	}
	c360_json *root = c360_json_doc_root(doc);
	char *text = NULL;
	size_t tlen = 0;
	int64_t id;
	if (!c360_json_is_object(root)) {
		snprintf(why, whylen, "a record must be a JSON object");
		rc = C360_ERR_INVALID;
		goto out;
	}
	text = c360_json_write_str(root, C360_JSON_COMPACT, &tlen);
	if (!text) {
		rc = C360_ERR_NOMEM;
		goto out;
	}
	const char *email = c360_json_str(c360_json_get(root, "Email"), NULL);
	if (email) {
		if (!c360_json_int64(c360_json_get(root, "Id"), &id)) {
			snprintf(why, whylen, "customer without a whole-number \"Id\"");
			rc = C360_ERR_INVALID;
		} else if ((rc = ms_data_add_customer_raw(d, id, email, text, tlen)) ==
			   C360_ERR_EXISTS) {
			snprintf(why, whylen, "duplicate customer Id %" PRId64 " or email '%s'", id,
				 email);
		}
	} else if (c360_json_get(root, "OrderId")) {
		int64_t oid;
		if (!c360_json_int64(c360_json_get(root, "CustomerId"), &id)) {
			snprintf(why, whylen, "order without a whole-number \"CustomerId\"");
			rc = C360_ERR_INVALID;
		} else if ((rc = ms_data_add_order(d, id, text, tlen)) == C360_ERR_NOT_FOUND) {
			snprintf(why, whylen, "order for unknown customer %" PRId64
					      " (customers must come first)", id);
			rc = C360_ERR_INVALID;
		} else if (!rc && c360_json_int64(c360_json_get(root, "OrderId"), &oid) &&
			   oid >= d->next_order) {
			d->next_order = oid + 1;
		}
	} else if (c360_json_get(root, "ProductId")) {
		if (!c360_json_int64(c360_json_get(root, "ProductId"), &id)) {
			snprintf(why, whylen, "product without a whole-number \"ProductId\"");
			rc = C360_ERR_INVALID;
		} else if ((rc = ms_data_add_product(d, id, text, tlen)) == C360_ERR_EXISTS) {
			snprintf(why, whylen, "duplicate product %" PRId64, id);
		}
	} else {
		snprintf(why, whylen,
			 "not a customer (\"Email\"), order (\"OrderId\") or product (\"ProductId\")");
		rc = C360_ERR_INVALID;
	}
out:
	free(text);
	c360_json_doc_free(doc);
	return rc;
}

c360_rc ms_data_load(struct ms_data *d, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return C360_ERR_IO;
	}
	struct c360_buf line;
	c360_buf_init(&line, LINE_MAX_BYTES);
	c360_rc rc = C360_OK;
	unsigned long lineno = 0;
	int ch;
	bool eof = false;
	while (!rc && !eof) {
		c360_buf_reset(&line);
		while ((ch = getc(f)) != EOF && ch != '\n')
			if ((rc = c360_buf_putc(&line, (char)ch)))
				break;
		eof = ch == EOF;
		lineno++;
		if (rc) {
			snprintf(err, errlen, "%s:%lu: line longer than %u bytes", path, lineno,
				 LINE_MAX_BYTES);
			break;
		}
		size_t n = line.len;
		while (n && (line.data[n - 1] == '\r' || line.data[n - 1] == ' '))
			n--;
		if (!n)
			continue;
		char why[200] = "";
		if ((rc = load_line(d, line.data, n, why, sizeof why)))
			snprintf(err, errlen, "%s:%lu: %s", path, lineno, *why ? why : c360_rc_str(rc));
	}
	if (!rc && ferror(f)) {
		snprintf(err, errlen, "cannot read '%s': %s", path, strerror(errno));
		rc = C360_ERR_IO;
	}
	c360_buf_release(&line);
	fclose(f);
	return rc;
}

