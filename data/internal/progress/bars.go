package progress

import (
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// newBar adds name's bar: its name, then the filler (a bar when the total
// is known, an empty one while it is not), then its figures. The
// decorators read o under r.smu.
func (r *Reporter) newBar(name string, o *op) *mpb.Bar {
	figures := decor.Any(func(decor.Statistics) string {
		r.smu.Lock()
		defer r.smu.Unlock()
		return " " + r.figures(o, time.Now())
	})
	return r.p.New(0, mpb.BarStyle().Lbound("[").Rbound("]"),
		mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace | decor.DSyncWidth})),
		mpb.AppendDecorators(figures),
		mpb.BarFillerTrim(),
	)
}

// updateBar moves o's bar to o's figures; r.mu is held.
func (r *Reporter) updateBar(o *op) {
	if t := o.stats.TotalRows; t > 0 && t != o.total {
		o.total = t
		o.bar.SetTotal(t, false)
	}
	o.bar.SetCurrent(o.stats.Rows)
	if o.stats.Done {
		o.bar.SetTotal(-1, true) // the total is the rows there were
	}
}

// finishBar ends o's bar at Close: complete if o is done, else aborted
// (left on screen, as stopped); r.mu is held.
func (r *Reporter) finishBar(o *op) {
	if o.stats.Done {
		o.bar.SetTotal(-1, true)
		return
	}
	o.bar.Abort(false)
}
