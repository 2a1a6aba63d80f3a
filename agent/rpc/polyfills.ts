// Runtime gaps between Node 20 and what libp2p 3.x expects. libp2p and its helpers (yamux, the
// stream utilities, it-queue) call Promise.withResolvers (ES2024), which V8 ships from Node 22 on.
// Imported first by the modules that import libp2p; installs nothing where the runtime has it.

interface ResolversOf<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

type PromiseConstructorWithResolvers = PromiseConstructor & {
  withResolvers?: <T>() => ResolversOf<T>;
};

const promiseConstructor: PromiseConstructorWithResolvers = Promise;

if (typeof promiseConstructor.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    // Same shape as the built-in: a plain data property, writable and configurable, not enumerable.
    value: function withResolvers<T>(this: PromiseConstructor): ResolversOf<T> {
      let resolve!: (value: T | PromiseLike<T>) => void;
      let reject!: (reason?: unknown) => void;
      const PromiseClass = typeof this === 'function' ? this : Promise;
      const promise = new PromiseClass<T>((onResolve, onReject) => {
        resolve = onResolve;
        reject = onReject;
      });
      return { promise, resolve, reject };
    },
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

export {};
