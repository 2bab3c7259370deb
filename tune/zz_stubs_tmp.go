package tune

// TEMPORARY stand-ins until the helpers' branches are merged.


type fifoStub struct{}

func FIFO() Scheduler                                     { return fifoStub{} }
func (fifoStub) Setup(string, Mode) error                 { return nil }
func (fifoStub) OnTrialAdd(TrialInfo)                     {}
func (fifoStub) OnTrialResult(TrialInfo, Result) Decision { return Decision{} }
func (fifoStub) OnTrialComplete(TrialInfo, *Result)       {}
func (fifoStub) OnTrialRemove(TrialInfo)                  {}
func (fifoStub) ChooseTrialToRun(w []TrialInfo) string {
	for _, t := range w {
		if t.State == Pending {
			return t.ID
		}
	}
	if len(w) > 0 {
		return w[0].ID
	}
	return ""
}
