package stores

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"go.podman.io/storage"
	"golang.org/x/sys/unix"
)

// Every strata process that opens a store owns the working containers and
// images it makes there: their names end with its owner token, PID-RANDOM,
// and it holds an exclusive flock on GRAPHROOT/strata/owners/TOKEN.lock for
// as long as it runs. The kernel drops the lock when the process dies,
// SIGKILL included, so a later process tells a live owner (the lock is
// held) from a dead one (it is not) without trusting PIDs, which are
// reused. Collect removes what dead owners left.

var (
	ownerOnce  sync.Once
	ownerToken string
	ownerMu    sync.Mutex
	ownerLocks = map[string]*os.File{} // graphroot -> the held lock file
)

// Owner returns this process's owner token, the suffix of the names of its
// working containers and images.
func Owner() string {
	ownerOnce.Do(func() {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		ownerToken = fmt.Sprintf("%d-%s", os.Getpid(), hex.EncodeToString(b))
	})
	return ownerToken
}

func ownersDir(graphRoot string) string { return filepath.Join(graphRoot, "strata", "owners") }

// holdOwner takes this process's owner lock in the store, once per store.
func holdOwner(graphRoot string) error {
	ownerMu.Lock()
	defer ownerMu.Unlock()
	if _, ok := ownerLocks[graphRoot]; ok {
		return nil
	}
	dir := ownersDir(graphRoot)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, Owner()+".lock")
	for range 3 {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("creating the owner lock %s: %w", path, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			return fmt.Errorf("locking %s: %w", path, err)
		}
		// A collector may have removed the file between the open and the
		// lock: the lock must be on the file the path names.
		var held, named unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &named) == nil && held.Ino == named.Ino && held.Dev == named.Dev {
			ownerLocks[graphRoot] = f
			return nil
		}
		f.Close()
	}
	return fmt.Errorf("locking %s: the file keeps being removed", path)
}

// ownerAlive says whether the process of an owner token still runs: its
// lock is held. A dead owner's lock file is removed.
func ownerAlive(graphRoot, token string) bool {
	path := filepath.Join(ownersDir(graphRoot), token+".lock")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	_ = os.Remove(path)
	return false
}

// tokenSuffix matches the owner token at the end of a working
// container's or image's name; legacySuffix the PID alone, as strata
// named its working containers before owner tokens.
var (
	tokenSuffix  = regexp.MustCompile(`-([0-9]+-[0-9a-f]{8})(-[0-9]+)?$`)
	legacySuffix = regexp.MustCompile(`^strata-.+-([0-9]+)$`)
)

// WorkingImagePrefix starts the names of the working images of install
// commands: WorkingImagePrefix + TOKEN + "-" + N.
const WorkingImagePrefix = "localhost/strata-working:install-"

// leftBy returns the owner of a strata working container or image name
// when that owner is gone, else "".
func (s *Store) leftBy(name string) string {
	if !strings.HasPrefix(name, "strata-") && !strings.HasPrefix(name, WorkingImagePrefix) {
		return ""
	}
	if m := tokenSuffix.FindStringSubmatch(name); m != nil {
		if m[1] == Owner() || ownerAlive(s.GraphRoot(), m[1]) {
			return ""
		}
		return m[1]
	}
	if m := legacySuffix.FindStringSubmatch(name); m != nil {
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || !errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
			return ""
		}
		return m[1]
	}
	return ""
}

// Collect removes the working containers and images that strata processes
// which are gone (killed, SIGKILL included) left in the store: the OCI
// runtime's containers running over them are killed and deleted, their
// mounts undone, their records and layers removed. Containers and images
// of live processes, and whatever strata did not make, are never touched.
// It logs one line per item and returns those lines.
func (s *Store) Collect(log *logrus.Logger) []string {
	var done []string
	report := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		log.Warn(msg)
		done = append(done, msg)
	}
	containers, err := s.Containers()
	if err != nil {
		log.Debugf("listing containers: %v", err)
	}
	var runtimes []runtimeContainer
	listed := false
	for _, c := range containers {
		if len(c.Names) == 0 {
			continue
		}
		name := c.Names[0]
		owner := s.leftBy(name)
		if owner == "" {
			continue
		}
		if !listed {
			runtimes, listed = listRuntimeContainers(), true
		}
		if layer, err := s.Layer(c.LayerID); err == nil {
			root := filepath.Join(s.GraphRoot(), s.GraphDriverName(), layer.ID)
			for _, rc := range runtimes {
				if strings.HasPrefix(rc.Rootfs, root+string(filepath.Separator)) || rc.Rootfs == root {
					rc.remove(log)
					report("stopped the %s container %s (pid %d) of the working container %q", rc.runtime, rc.ID, rc.Pid, name)
				}
			}
		}
		if _, err := s.Unmount(c.ID, true); err != nil && !errors.Is(err, storage.ErrLayerNotMounted) {
			log.Debugf("unmounting container %q: %v", name, err)
		}
		if err := s.DeleteContainer(c.ID); err != nil {
			log.Warnf("removing the working container %q left by strata process %s: %v", name, owner, err)
			continue
		}
		report("removed the working container %q left by strata process %s, which is gone", name, owner)
	}
	images, err := s.Images()
	if err != nil {
		log.Debugf("listing images: %v", err)
	}
	for _, img := range images {
		for _, name := range img.Names {
			if !strings.HasPrefix(name, WorkingImagePrefix) {
				continue
			}
			if owner := s.leftBy(name); owner != "" {
				if _, err := s.DeleteImage(img.ID, true); err != nil {
					log.Warnf("removing the working image %q left by strata process %s: %v", name, owner, err)
				} else {
					report("removed the working image %q left by strata process %s, which is gone", name, owner)
				}
				break
			}
		}
	}
	// Lock files of owners that are gone and left nothing.
	entries, _ := os.ReadDir(ownersDir(s.GraphRoot()))
	for _, e := range entries {
		if token, ok := strings.CutSuffix(e.Name(), ".lock"); ok && token != Owner() {
			ownerAlive(s.GraphRoot(), token)
		}
	}
	return done
}

// runtimeContainer is one container the OCI runtime (runc, crun) knows,
// as `RUNTIME list --format json` prints it.
type runtimeContainer struct {
	ID      string `json:"id"`
	Pid     int    `json:"pid"`
	Status  string `json:"status"`
	Bundle  string `json:"bundle"`
	Rootfs  string `json:"rootfs"`
	runtime string
}

// listRuntimeContainers lists the containers of runc and crun in their
// default state directories (those buildah uses).
func listRuntimeContainers() []runtimeContainer {
	var out []runtimeContainer
	for _, rt := range []string{"runc", "crun"} {
		path, err := exec.LookPath(rt)
		if err != nil {
			continue
		}
		var list []runtimeContainer
		b, err := exec.Command(path, "list", "--format", "json").Output()
		if err != nil || json.Unmarshal(bytes.TrimSpace(b), &list) != nil {
			continue
		}
		for i := range list {
			list[i].runtime = path
		}
		out = append(out, list...)
	}
	return out
}

// remove kills the container's processes and deletes it, and its bundle
// (buildah's temporary directory).
func (rc runtimeContainer) remove(log *logrus.Logger) {
	if err := exec.Command(rc.runtime, "kill", rc.ID, "KILL").Run(); err != nil {
		log.Debugf("%s kill %s: %v", rc.runtime, rc.ID, err)
	}
	for range 50 {
		if rc.Pid <= 0 || errors.Is(syscall.Kill(rc.Pid, 0), syscall.ESRCH) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := exec.Command(rc.runtime, "delete", "--force", rc.ID).Run(); err != nil {
		log.Debugf("%s delete %s: %v", rc.runtime, rc.ID, err)
	}
	if rc.Bundle != "" && strings.HasPrefix(filepath.Base(rc.Bundle), "buildah") {
		_ = os.RemoveAll(rc.Bundle)
	}
}
