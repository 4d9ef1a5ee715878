/* Names of the c360_rc return codes. */
#include "core/rc.h"

#include "core/banned.h"

const char *c360_rc_str(c360_rc rc)
{
	static const char *const names[C360_RC_COUNT] = {
		[C360_OK] = "ok",
		[C360_ERR_NOMEM] = "out of memory",
		[C360_ERR_INVALID] = "invalid input",
		[C360_ERR_NOT_FOUND] = "not found",
		[C360_ERR_EXISTS] = "already exists",
		[C360_ERR_CAS] = "cas mismatch",
		[C360_ERR_TOO_BIG] = "too big",
		[C360_ERR_IO] = "i/o error",
		[C360_ERR_CORRUPT] = "corrupt or not a c360 file",
		[C360_ERR_LIMIT] = "limit reached",
		[C360_ERR_TIMEOUT] = "timed out",
		[C360_ERR_BUSY] = "busy",
		[C360_ERR_UNSUPPORTED] = "unsupported",
		[C360_ERR_STATE] = "not allowed in this state",
		[C360_ERR_DENIED] = "denied",
		[C360_ERR_INTERNAL] = "internal error",
	};
	if ((unsigned)rc >= C360_RC_COUNT)
		return "unknown error";
	return names[rc];
}
