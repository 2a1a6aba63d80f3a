// Test preload (NODE_OPTIONS="--import <this file>"): the agent process drops a share of the UDP
// datagrams it sends, OPSBRO_TEST_UDP_DROP_PERCENT (0-100), to test gossip under packet loss with
// real agent processes. Test code only: the agent itself has no such knob.
import dgram from 'node:dgram';

const percent = Number(process.env.OPSBRO_TEST_UDP_DROP_PERCENT ?? 0);
if (percent > 0) {
  const send = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function lossySend(...args) {
    if (Math.random() * 100 >= percent) return send.apply(this, args);
    // Lost on the way: the sender never knows, as with a real network.
    const callback = args.at(-1);
    if (typeof callback === 'function') process.nextTick(callback, null, 0);
  };
}
