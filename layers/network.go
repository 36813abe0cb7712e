package layers

import (
	"errors"

	nettypes "go.podman.io/common/libnetwork/types"
)

// errNoNetworks is what the network backend of working containers answers:
// strata configures no container networks.
var errNoNetworks = errors.New("strata configures no container networks: steps run with --network none or host")

// noNetworks is the network backend of every working container. Steps run
// without a network (a fresh namespace with loopback only) or in the
// host's, so neither netavark nor CNI is ever needed, and a machine whose
// containers.conf names one that is not installed builds all the same.
// buildah calls it only to configure a network, which strata never asks.
type noNetworks struct{}

var _ nettypes.ContainerNetwork = noNetworks{}

func (noNetworks) NetworkCreate(nettypes.Network, *nettypes.NetworkCreateOptions) (nettypes.Network, error) {
	return nettypes.Network{}, errNoNetworks
}
func (noNetworks) NetworkUpdate(string, nettypes.NetworkUpdateOptions) error { return errNoNetworks }
func (noNetworks) NetworkRemove(string) error                                { return errNoNetworks }
func (noNetworks) NetworkList(...nettypes.FilterFunc) ([]nettypes.Network, error) {
	return nil, nil
}
func (noNetworks) NetworkInspect(string) (nettypes.Network, error) {
	return nettypes.Network{}, errNoNetworks
}
func (noNetworks) Setup(string, nettypes.SetupOptions) (map[string]nettypes.StatusBlock, error) {
	return nil, errNoNetworks
}
func (noNetworks) Teardown(string, nettypes.TeardownOptions) error { return nil }
func (noNetworks) RunInRootlessNetns(func() error) error           { return errNoNetworks }
func (noNetworks) RootlessNetnsInfo() (*nettypes.RootlessNetnsInfo, error) {
	return nil, errNoNetworks
}
func (noNetworks) PestoSocketPath() string           { return "" }
func (noNetworks) Drivers() []string                 { return nil }
func (noNetworks) DefaultNetworkName() string        { return "none" }
func (noNetworks) NetworkInfo() nettypes.NetworkInfo { return nettypes.NetworkInfo{Backend: "none"} }
