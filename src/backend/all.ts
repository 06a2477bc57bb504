// Imports every backend module for its registration side effect; the daemon imports this once.
import './alloc/alloc.js';
import './hostgw/hostgw.js';
import './vxlan/index.js';
import './udp/udp.js';
