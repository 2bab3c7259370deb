package multiplex

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxModelIDLen is the longest model ID accepted, in bytes. IDs travel in an
// HTTP header (serve_multiplexed_model_id), in routing tables and in metric
// labels; a name or a path fits easily, a payload smuggled as an ID does not.
const MaxModelIDLen = 256

// ValidateModelID reports whether id can name a model: non-empty, at most
// MaxModelIDLen bytes, valid UTF-8 made of printable characters (the ASCII
// space included, other spaces and controls not), and no leading or trailing
// space, which HTTP would strip from the header. The error wraps
// ErrInvalidModelID.
func ValidateModelID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty", ErrInvalidModelID)
	}
	if len(id) > MaxModelIDLen {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidModelID, len(id), MaxModelIDLen)
	}
	if id[0] == ' ' || id[len(id)-1] == ' ' {
		return fmt.Errorf("%w: %q has a leading or trailing space", ErrInvalidModelID, id)
	}
	for i := 0; i < len(id); {
		if b := id[i]; b < utf8.RuneSelf { // ASCII fast path
			if b < ' ' || b == 0x7f {
				return fmt.Errorf("%w: %q has a control character at byte %d", ErrInvalidModelID, id, i)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(id[i:])
		if r == utf8.RuneError && n == 1 {
			return fmt.Errorf("%w: %q is not valid UTF-8 at byte %d", ErrInvalidModelID, id, i)
		}
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %q has the non-printable character %U at byte %d", ErrInvalidModelID, id, r, i)
		}
		i += n
	}
	return nil
}
