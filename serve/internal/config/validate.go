package config

import (
	"net"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// The checks here span more than one field; the single-field ones sit
// where each field is read (schema.go).

func (d *decoder) checkName(n *yaml.Node, path, s string) {
	if s == "" {
		d.fail(n, path, "must not be empty")
		return
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			d.fail(n, path, "must hold printable characters only, got %q", s)
			return
		}
	}
}

// checkRoutePrefix follows Ray: a prefix starts with "/", ends with "/"
// only when it is "/", and holds no "{" or "}". rayo also refuses what
// cannot be a URL path's prefix: whitespace, "?", "#" and "//".
func (d *decoder) checkRoutePrefix(n *yaml.Node, path, s string) {
	switch {
	case !strings.HasPrefix(s, "/"):
		d.fail(n, path, "%q must start with \"/\"", s)
	case len(s) > 1 && strings.HasSuffix(s, "/"):
		d.fail(n, path, "%q must not end with \"/\" unless it is \"/\"", s)
	case strings.ContainsAny(s, "{}"):
		d.fail(n, path, "%q must not hold \"{\" or \"}\" (no wildcards)", s)
	case strings.ContainsAny(s, "?#") || strings.Contains(s, "//") || strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0:
		d.fail(n, path, "%q is not a URL path prefix", s)
	}
}

func (d *decoder) checkHost(n *yaml.Node, path, s string) {
	if s == "" {
		d.fail(n, path, "must not be empty (0.0.0.0 listens on every interface)")
		return
	}
	if net.ParseIP(s) != nil {
		return
	}
	if strings.Contains(s, ":") {
		d.fail(n, path, "%q is not an IP address or host name (set the port in port)", s)
		return
	}
	for _, r := range s {
		if !(r == '-' || r == '.' || r == '_' || r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			d.fail(n, path, "%q is not an IP address or host name", s)
			return
		}
	}
}

// checkDeployment checks one override's fields against each other.
func (d *decoder) checkDeployment(n *yaml.Node, path string, dep *Deployment) {
	if dep.NumReplicas != nil && !dep.NumReplicas.Auto && dep.AutoscalingConfig != nil {
		d.fail(n, path, "num_replicas and autoscaling_config are mutually exclusive (num_replicas may be \"auto\" with autoscaling_config)")
	}
	if a := dep.AutoscalingConfig; a != nil {
		auto := dep.NumReplicas != nil && dep.NumReplicas.Auto
		at := field(path, "autoscaling_config")
		d.checkAutoscaling(d.nodes[at], at, a, auto)
	}
	if o, b := dep.ActorOptions, dep.PlacementGroupBundles; o != nil && len(b) > 0 && b[0] != nil {
		d.checkFirstBundle(d.nodes[field(path, "placement_group_bundles")], path, o, b[0])
	}
}

func (d *decoder) checkAutoscaling(n *yaml.Node, path string, a *AutoscalingConfig, auto bool) {
	e := a.Effective(auto)
	if *e.MinReplicas < 0 || *e.MaxReplicas < 1 || (a.InitialReplicas != nil && *a.InitialReplicas < 0) {
		return // already reported where the field was read
	}
	if *e.MaxReplicas < *e.MinReplicas {
		d.fail(n, path, "max_replicas (%d) must be at least min_replicas (%d)", *e.MaxReplicas, *e.MinReplicas)
	}
	if a.InitialReplicas != nil {
		if *a.InitialReplicas < *e.MinReplicas {
			d.fail(n, path, "initial_replicas (%d) must be at least min_replicas (%d)", *a.InitialReplicas, *e.MinReplicas)
		}
		if *a.InitialReplicas > *e.MaxReplicas {
			d.fail(n, path, "initial_replicas (%d) must be at most max_replicas (%d)", *a.InitialReplicas, *e.MaxReplicas)
		}
	}
	if *e.LookBackPeriod <= *e.MetricsInterval && (a.LookBackPeriod != nil || a.MetricsInterval != nil) {
		d.warn(path, "look_back_period_s (%v) should be greater than metrics_interval_s (%v)",
			e.LookBackPeriod.Seconds(), e.MetricsInterval.Seconds())
	}
}

// checkFirstBundle: a replica runs in its first bundle, so the bundle must
// hold what ray_actor_options asks for (Ray checks the same).
func (d *decoder) checkFirstBundle(n *yaml.Node, path string, o *ActorOptions, b map[string]float64) {
	need := map[string]float64{}
	if o.NumCPUs != nil && *o.NumCPUs > 0 {
		need["CPU"] = *o.NumCPUs
	}
	if o.NumGPUs != nil && *o.NumGPUs > 0 {
		need["GPU"] = *o.NumGPUs
	}
	if o.Memory != nil && *o.Memory > 0 {
		need["memory"] = float64(*o.Memory)
	}
	for k, v := range o.Resources {
		if v > 0 {
			need[k] = v
		}
	}
	for _, k := range sortedKeys(need) {
		if b[k] < need[k] {
			d.fail(n, field(path, "placement_group_bundles[0]"),
				"the replica runs in the first bundle, which must hold its ray_actor_options: %s %v > %v", k, need[k], b[k])
		}
	}
}

// checkApplications checks what spans applications: unique names and
// route prefixes, and unique deployment names within each application.
func (d *decoder) checkApplications(apps []Application) {
	names := map[string]int{}
	routes := map[string]int{}
	for i, a := range apps {
		at := index("applications", i)
		if j, dup := names[a.Name]; dup && a.Name != "" {
			d.fail(d.nodes[field(at, "name")], field(at, "name"), "%q is also the name of applications[%d]", a.Name, j)
		} else {
			names[a.Name] = i
		}
		if j, dup := routes[a.RoutePrefix]; dup && a.RoutePrefix != "" {
			d.fail(d.nodes[field(at, "route_prefix")], field(at, "route_prefix"), "%q is also the route prefix of applications[%d]", a.RoutePrefix, j)
		} else {
			routes[a.RoutePrefix] = i
		}
		deps := map[string]int{}
		for k, dep := range a.Deployments {
			if j, dup := deps[dep.Name]; dup && dep.Name != "" {
				np := field(index(field(at, "deployments"), k), "name")
				d.fail(d.nodes[np], np, "%q is also the name of deployments[%d]", dep.Name, j)
			} else {
				deps[dep.Name] = k
			}
		}
	}
}

func lower(s string) string { return strings.ToLower(s) }

func lowerAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = lower(s)
	}
	return out
}
