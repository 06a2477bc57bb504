// The one wrapper over the `netlink` package: import from here.
export * from './errors.js';
export * from './codec.js';
export * from './socket.js';
export * from './links.js';
export * from './addresses.js';
export * from './routes.js';
export * from './monitor.js';
export * from './route-plan.js';
