// Package autoscale is Serve's request-based autoscaling policy: pure,
// deterministic logic that turns the load replicas and handles report into
// the number of replicas a deployment should have. It follows Ray Serve's
// default policy ("Advanced Ray Serve Autoscaling", the autoscaling config
// parameters of ray.serve.config.AutoscalingConfig, and Ray's
// replica_queue_length_autoscaling_policy):
//
//   - Load is the number of ongoing requests: those running or queued at each
//     replica plus those queued at handles and proxies that no replica has
//     taken yet. Each source's reports form a step function over time; the
//     Recorder (see its doc) gives the time-weighted average of their total
//     over the look-back period (look_back_period_s, aggregation_function
//     "mean"; "max" and "min" reduce each source and sum, as Ray's replicas
//     do).
//   - The raw desired count is total ongoing / target_ongoing_requests. The
//     step from the running count is multiplied by upscaling_factor or
//     downscaling_factor (their deprecated spellings upscale_smoothing_factor,
//     downscale_smoothing_factor and smoothing_factor are honoured, in Ray's
//     order of precedence) and rounded up; a downscale that the factor
//     would round away still removes one replica. The result is clipped to
//     [min_replicas, max_replicas].
//   - A change is applied only after it has been wanted in the same direction
//     for upscale_delay_s or downscale_delay_s; going from one replica to zero
//     uses downscale_to_zero_delay_s when set. Any other downscale stops at
//     one replica, so zero is reached only from one.
//   - Scale from zero: with no replica running, any ongoing request in the
//     window or any request a handle reports queued now wants
//     max(ceil(upscaling_factor), current target) replicas at once, with no
//     delay.
//
// Where rayo differs from Ray, on purpose:
//
//   - Delays are measured with the caller's clock, not by counting control
//     loop iterations: a direction must have been wanted continuously since
//     the first decision that saw it, and is applied by the first decision
//     at least the delay later. With Ray's regular 0.1 s loop the two agree;
//     with an irregular or stalled loop ours still waits the configured time
//     rather than a number of iterations.
//   - The mean is that of the deployment's total load over the window: a
//     replica counts from its first report, and a stopped one (DropReplica)
//     keeps counting until its last report leaves the window. Ray reduces
//     each replica's own reports and drops a stopped replica's, so right
//     after an upscale the old replicas' past peak is counted on top of the
//     new replicas' share (an overshoot when the delay is shorter than the
//     window), and right after a downscale load that was real is forgotten.
//   - A target of zero while the last replica still drains is a cold start
//     too: a request queued at a handle then brings a replica back at once
//     rather than after upscale_delay_s (Ray applies the delay there).
//   - Zero-valued fields take Ray's defaults (WithDefaults), except
//     MinReplicas and MaxReplicas: Go's zero value cannot tell "unset" from 0,
//     so MinReplicas 0 means scale to zero is allowed and MaxReplicas must be
//     given (Ray defaults both to 1; a config-file parser should fill them).
//   - target_capacity and custom (user-supplied) policies are not modelled.
//
// Every decision is a Decision value carrying its inputs and a one-line,
// human-readable Reason, for the controller's log and `rayo serve status`.
//
// Nothing here reads the wall clock: every method takes now.
//
// Lock order: Policy.mu before Recorder.mu. A Recorder never calls back into
// its Policy.
package autoscale
