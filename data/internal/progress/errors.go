package progress

import "errors"

// ErrMode: ParseMode was given a name that is not a mode's.
var ErrMode = errors.New("data: unknown progress mode")
