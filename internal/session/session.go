package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultTempDir is where sessions live unless a command says otherwise.
const DefaultTempDir = "/tmp/rayo"

var (
	// ErrNoSession means no session (or no head address in it) was found.
	// Returned errors wrap it and name the temp dir that was searched.
	ErrNoSession = errors.New("session: no running cluster found")
	// ErrNoToken means the cluster token could not be found.
	ErrNoToken = errors.New("session: no cluster token")
	// ErrUnsafeDir means the temp dir is not this user's alone (another
	// user owns it, or may write to it): whoever can rename entries in it
	// can swap the session that daemons, drivers and the CLI use.
	ErrUnsafeDir = errors.New("session: temp dir is not private to this user")
)

const (
	latestName    = "session_latest"
	sessionPref   = "session_"
	tokenFile     = "token"
	addressFile   = "address"
	dashboardFile = "dashboard_address"
	logsDir       = "logs"
	pidsDir       = "pids"
	binariesDir   = "binaries"
	pidSuffix     = ".pid"
	stampLayout   = "2006-01-02_15-04-05"
	stampLen      = len(stampLayout) + 7 // + "_" + 6-digit microseconds
	// Sessions hold logs, job working directories and job binaries:
	// private to the cluster's user. Modes are set with Chmod after
	// creation, so a umask neither narrows nor (with umask 0) widens them.
	dirPerm      = 0o700
	logFilePerm  = 0o600
	tokenPerm    = 0o600
	filePerm     = 0o600
	maxCollision = 1 << 20
)

// now is swapped by tests to force same-microsecond collisions.
var now = time.Now

// Dir is one session_* directory.
type Dir struct {
	// Path is the absolute path of the session directory.
	Path string
}

// orDefault lets callers pass "" for the default temp dir.
func orDefault(tempDir string) string {
	if tempDir == "" {
		return DefaultTempDir
	}
	return tempDir
}

func noSession(tempDir string) error {
	return fmt.Errorf("%w (temp dir %s)", ErrNoSession, tempDir)
}

// Create makes a new session directory under tempDir (creating tempDir with
// 0700 if needed) with its logs/, pids/ and binaries/ subdirectories, and
// atomically repoints session_latest at it. It refuses a temp dir that is
// not private to this user (ErrUnsafeDir).
func Create(tempDir string) (*Dir, error) {
	tempDir, err := filepath.Abs(orDefault(tempDir))
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if _, err := os.Lstat(tempDir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(tempDir, dirPerm); err != nil {
			return nil, fmt.Errorf("session: create temp dir: %w", err)
		}
		if err := os.Chmod(tempDir, dirPerm); err != nil {
			return nil, fmt.Errorf("session: create temp dir: %w", err)
		}
	}
	if err := CheckTempDir(tempDir); err != nil {
		return nil, err
	}

	t := now().UTC()
	base := fmt.Sprintf("%s%s_%06d_%d", sessionPref, t.Format(stampLayout), t.Nanosecond()/1000, os.Getpid())
	// Mkdir fails atomically on an existing name, so the counter makes names
	// unique even across goroutines creating sessions in one microsecond.
	var path string
	for i := 0; ; i++ {
		name := base
		if i > 0 {
			name = base + "_" + strconv.Itoa(i)
		}
		path = filepath.Join(tempDir, name)
		err := mkdirPrivate(path)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || i >= maxCollision {
			return nil, fmt.Errorf("session: create session dir: %w", err)
		}
	}

	d := &Dir{Path: path}
	for _, sub := range []string{logsDir, pidsDir, binariesDir} {
		if err := mkdirPrivate(filepath.Join(path, sub)); err != nil {
			return nil, fmt.Errorf("session: create %s: %w", sub, err)
		}
	}
	if err := pointLatest(tempDir, filepath.Base(path)); err != nil {
		return nil, err
	}
	return d, nil
}

// mkdirPrivate makes a directory with mode 0700 whatever the umask. Like
// os.Mkdir, it fails on an existing name.
func mkdirPrivate(path string) error {
	if err := os.Mkdir(path, dirPerm); err != nil {
		return err
	}
	return os.Chmod(path, dirPerm)
}

// CheckTempDir returns ErrUnsafeDir (wrapped, naming the reason) unless
// dir is a directory owned by this user that no other user may write to.
// A symbolic link to such a directory is accepted when the link itself is
// this user's or root's. A missing dir yields ErrNoSession (wrapped).
func CheckTempDir(dir string) error {
	li, err := os.Lstat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return noSession(dir)
		}
		return fmt.Errorf("session: temp dir: %w", err)
	}
	if li.Mode()&fs.ModeSymlink != 0 {
		if uid, ok := owner(li); !ok || (uid != os.Geteuid() && uid != 0) {
			return fmt.Errorf("%w: %s is a link owned by uid %d", ErrUnsafeDir, dir, uid)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return noSession(dir)
		}
		return fmt.Errorf("session: temp dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", ErrUnsafeDir, dir)
	}
	if uid, ok := owner(fi); !ok || uid != os.Geteuid() {
		return fmt.Errorf("%w: %s belongs to uid %d, not to this user (uid %d); pass a --temp-dir of your own", ErrUnsafeDir, dir, uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%w: other users may write to %s (mode %#o); chmod go-w it or pass another --temp-dir", ErrUnsafeDir, dir, fi.Mode().Perm())
	}
	return nil
}

func owner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return -1, false
	}
	return int(st.Uid), true
}

// pointLatest swaps session_latest via rename so that concurrent readers see
// either the old target or the new one, never a missing link.
func pointLatest(tempDir, target string) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails on supported platforms
	// The leading dot keeps the temp link out of AllSessions' session_* match.
	tmp := filepath.Join(tempDir, fmt.Sprintf(".%s.tmp-%d-%s", latestName, os.Getpid(), hex.EncodeToString(rnd[:])))
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("session: link %s: %w", latestName, err)
	}
	if err := os.Rename(tmp, filepath.Join(tempDir, latestName)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("session: link %s: %w", latestName, err)
	}
	return nil
}

// MakeLatest points <tempDir>/session_latest at d again (a restarted head
// takes up its session).
func (d *Dir) MakeLatest() error {
	return pointLatest(filepath.Dir(d.Path), filepath.Base(d.Path))
}

// Latest resolves <tempDir>/session_latest. It returns ErrNoSession (wrapped)
// when the link is missing or dangling.
func Latest(tempDir string) (*Dir, error) {
	tempDir, err := filepath.Abs(orDefault(tempDir))
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if err := CheckTempDir(tempDir); err != nil {
		return nil, err
	}
	link := filepath.Join(tempDir, latestName)
	target, err := os.Readlink(link)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, noSession(tempDir)
		}
		// Not a symlink: tolerate a plain directory put there by hand.
		target = link
	} else if !filepath.IsAbs(target) {
		target = filepath.Join(tempDir, target)
	}
	fi, err := os.Stat(target)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, noSession(tempDir)
		}
		return nil, fmt.Errorf("session: %s: %w", latestName, err)
	}
	if !fi.IsDir() {
		return nil, noSession(tempDir)
	}
	return &Dir{Path: filepath.Clean(target)}, nil
}

// Open wraps an existing session directory. A missing directory yields an
// error wrapping both ErrNoSession and fs.ErrNotExist.
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNoSession, err)
		}
		return nil, fmt.Errorf("session: open: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("session: open %s: not a directory", abs)
	}
	return &Dir{Path: abs}, nil
}

// LogsDir is where each process writes its log file.
func (d *Dir) LogsDir() string { return filepath.Join(d.Path, logsDir) }

// PidsDir holds one <name>.pid per daemon started on this machine.
func (d *Dir) PidsDir() string { return filepath.Join(d.Path, pidsDir) }

// BinariesDir is the job binary cache.
func (d *Dir) BinariesDir() string { return filepath.Join(d.Path, binariesDir) }

// validName keeps caller-supplied names from escaping their subdirectory.
func validName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || strings.ContainsRune(name, 0) {
		return fmt.Errorf("session: invalid name %q", name)
	}
	return nil
}

// LogFile opens logs/<name>.log for appending, with mode 0600. Append mode
// lets a restarted daemon keep its predecessor's output.
func (d *Dir) LogFile(name string) (*os.File, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(d.LogsDir(), name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, logFilePerm)
	if err != nil {
		return nil, fmt.Errorf("session: open log: %w", err)
	}
	// Also narrows a file an older rayo made readable by every user.
	if err := f.Chmod(logFilePerm); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("session: open log: %w", err)
	}
	return f, nil
}

// writeAtomic writes data to path via a temp file in the same directory and
// a rename, so readers never see a partial file. The mode is set with Chmod
// because the umask would otherwise narrow it.
func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}

// WriteAddress records the head's "host:port".
func (d *Dir) WriteAddress(addr string) error {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return errors.New("session: empty address")
	}
	if err := writeAtomic(filepath.Join(d.Path, addressFile), []byte(addr+"\n"), filePerm); err != nil {
		return fmt.Errorf("session: write address: %w", err)
	}
	return nil
}

// WriteDashboardAddress records the dashboard's (and HTTP API's)
// "host:port".
func (d *Dir) WriteDashboardAddress(addr string) error {
	if err := writeAtomic(filepath.Join(d.Path, dashboardFile), []byte(strings.TrimSpace(addr)+"\n"), filePerm); err != nil {
		return fmt.Errorf("session: write dashboard address: %w", err)
	}
	return nil
}

// ReadAddress returns the head's address; ErrNoSession (wrapped) if the head
// has not written it.
func (d *Dir) ReadAddress() (string, error) {
	b, err := os.ReadFile(filepath.Join(d.Path, addressFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w (no address in %s)", ErrNoSession, d.Path)
		}
		return "", fmt.Errorf("session: read address: %w", err)
	}
	addr := strings.TrimSpace(string(b))
	if addr == "" {
		return "", fmt.Errorf("%w (empty address in %s)", ErrNoSession, d.Path)
	}
	return addr, nil
}

// WritePid records a daemon started on this machine as pids/<name>.pid,
// with what identifies the process beyond its pid (start time, boot,
// executable) where /proc tells it.
func (d *Dir) WritePid(name string, pid int) error {
	if err := validName(name); err != nil {
		return err
	}
	if pid <= 0 {
		return fmt.Errorf("session: invalid pid %d", pid)
	}
	p, err := Identify(pid)
	if err != nil {
		p = Proc{Pid: pid}
	}
	if err := writeAtomic(filepath.Join(d.PidsDir(), name+pidSuffix), p.marshal(), filePerm); err != nil {
		return fmt.Errorf("session: write pid: %w", err)
	}
	return nil
}

// RemovePid deletes pids/<name>.pid. A missing file is not an error, so a
// daemon's exit path and `rayo stop` can both call it.
func (d *Dir) RemovePid(name string) error {
	if err := validName(name); err != nil {
		return err
	}
	err := os.Remove(filepath.Join(d.PidsDir(), name+pidSuffix))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("session: remove pid: %w", err)
	}
	return nil
}

// Pids maps daemon name to pid for every pid file. Malformed files are
// skipped rather than failing so one bad file cannot stop `rayo stop` from
// reaching the other daemons. A session without pids/ yields an empty map.
func (d *Dir) Pids() (map[string]int, error) {
	procs, err := d.Procs()
	if err != nil {
		return nil, err
	}
	pids := make(map[string]int, len(procs))
	for name, p := range procs {
		pids[name] = p.Pid
	}
	return pids, nil
}

// Procs is Pids with each daemon's recorded identity.
func (d *Dir) Procs() (map[string]Proc, error) {
	procs := map[string]Proc{}
	entries, err := os.ReadDir(d.PidsDir())
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return procs, nil
		}
		return nil, fmt.Errorf("session: list pids: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), pidSuffix)
		if !ok || name == "" || !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d.PidsDir(), e.Name()))
		if err != nil {
			continue
		}
		p, err := parseProc(string(b))
		if err != nil {
			continue
		}
		procs[name] = p
	}
	return procs, nil
}

// sessionKey is a parsed session directory name. Sorting on it rather than
// the raw name keeps "_10" after "_2" and tolerates pids of varying width.
type sessionKey struct {
	stamp string // fixed width, so lexical order is chronological
	pid   int
	n     int
	ok    bool
}

func parseSessionName(name string) sessionKey {
	rest, ok := strings.CutPrefix(name, sessionPref)
	if !ok || len(rest) < stampLen+2 || rest[stampLen] != '_' {
		return sessionKey{}
	}
	stamp := rest[:stampLen]
	if _, err := time.Parse(stampLayout, stamp[:len(stampLayout)]); err != nil {
		return sessionKey{}
	}
	if stamp[len(stampLayout)] != '_' {
		return sessionKey{}
	}
	for _, c := range stamp[len(stampLayout)+1:] {
		if c < '0' || c > '9' {
			return sessionKey{}
		}
	}
	pidStr, nStr, hasN := strings.Cut(rest[stampLen+1:], "_")
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid < 0 {
		return sessionKey{}
	}
	n := 0
	if hasN {
		if n, err = strconv.Atoi(nStr); err != nil || n < 0 {
			return sessionKey{}
		}
	}
	return sessionKey{stamp: stamp, pid: pid, n: n, ok: true}
}

// AllSessions lists every session_* directory under tempDir (not the
// session_latest link), oldest first. A missing tempDir yields none. Names
// that don't parse sort first, by name, so the order stays total.
func AllSessions(tempDir string) ([]*Dir, error) {
	tempDir, err := filepath.Abs(orDefault(tempDir))
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if err := CheckTempDir(tempDir); err != nil {
		if errors.Is(err, ErrNoSession) {
			return nil, nil
		}
		return nil, err
	}
	entries, err := os.ReadDir(tempDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("session: list sessions: %w", err)
	}
	type item struct {
		name string
		key  sessionKey
	}
	var items []item
	for _, e := range entries {
		// ReadDir does not follow symlinks, so session_latest is not a dir here.
		if !e.IsDir() || e.Name() == latestName || !strings.HasPrefix(e.Name(), sessionPref) {
			continue
		}
		items = append(items, item{e.Name(), parseSessionName(e.Name())})
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i].key, items[j].key
		switch {
		case a.ok != b.ok:
			return !a.ok
		case !a.ok:
			return items[i].name < items[j].name
		case a.stamp != b.stamp:
			return a.stamp < b.stamp
		case a.pid != b.pid:
			return a.pid < b.pid
		case a.n != b.n:
			return a.n < b.n
		}
		return items[i].name < items[j].name
	})
	dirs := make([]*Dir, len(items))
	for i, it := range items {
		dirs[i] = &Dir{Path: filepath.Join(tempDir, it.name)}
	}
	return dirs, nil
}

// Resolve finds the cluster address and token the way every CLI command
// does: explicit values win (address flag, token flag, then the RAYO_ADDRESS
// and RAYO_TOKEN environment variables), the rest comes from the latest
// session under tempDir. It returns ErrNoSession (wrapped, naming tempDir)
// if the address can't be found and ErrNoToken if the token can't.
func Resolve(tempDir, addressFlag, tokenFlag string) (addr, token string, err error) {
	tempDir = orDefault(tempDir)
	addr = strings.TrimSpace(addressFlag)
	if addr == "" {
		addr = strings.TrimSpace(os.Getenv("RAYO_ADDRESS"))
	}
	token = strings.TrimSpace(tokenFlag)
	if token == "" {
		token = strings.TrimSpace(os.Getenv("RAYO_TOKEN"))
	}
	if addr != "" && token != "" {
		return addr, token, nil
	}

	d, lerr := Latest(tempDir)
	if addr == "" {
		if lerr != nil {
			return "", "", lerr
		}
		if addr, err = d.ReadAddress(); err != nil {
			if errors.Is(err, ErrNoSession) {
				return "", "", noSession(tempDir)
			}
			return "", "", err
		}
	}
	if token == "" {
		if lerr != nil {
			if errors.Is(lerr, ErrNoSession) {
				return "", "", fmt.Errorf("%w (no session under %s; pass a token or set RAYO_TOKEN)", ErrNoToken, tempDir)
			}
			return "", "", lerr
		}
		if token, err = d.ReadToken(); err != nil {
			return "", "", err
		}
	}
	return addr, token, nil
}
