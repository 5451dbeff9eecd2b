//go:build !linux

package agent

import "github.com/umbrasec/umbra/shared/wire"

// osNetworkView knows no gateways or DNS search domains on this OS yet:
// only subnet rules can match here, and gateway-MAC or DNS-suffix rules
// alone never trust the network (the safe side).
func osNetworkView() wire.NetworkView { return wire.NetworkView{} }
