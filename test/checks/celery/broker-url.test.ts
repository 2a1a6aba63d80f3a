// The celery check's broker URL, read as kombu reads it, shown with the password masked; a bad
// definition refused at load, never naming the password.
import { describe, expect, it } from 'vitest';

import { parseBrokerUrl, withoutPassword } from '../../../agent/checks/celery/broker-url.js';
import { CELERY_CHECK_TYPE } from '../../../agent/checks/types/celery.js';
import { SERVICE_DEPENDENCIES } from '../service-fixtures.js';

describe('celery broker URL', () => {
  it("reads kombu's defaults: guest:guest, port 5672, vhost / (also written // or %2F)", () => {
    for (const text of ['amqp://rabbit', 'amqp://rabbit/', 'amqp://rabbit//', 'pyamqp://rabbit/%2F']) {
      expect(parseBrokerUrl(text)).toEqual({
        tls: false,
        hostname: 'rabbit',
        port: 5672,
        username: 'guest',
        password: 'guest',
        vhost: '/',
        display: 'amqp://guest:**@rabbit:5672//',
      });
    }
  });

  it('reads user, %-encoded password, port, vhost and TLS; shows the password as **', () => {
    expect(parseBrokerUrl('amqps://monitor:p%40ss%2Fw0rd@mq.example.com:5999/prod')).toEqual({
      tls: true,
      hostname: 'mq.example.com',
      port: 5999,
      username: 'monitor',
      password: 'p@ss/w0rd',
      vhost: 'prod',
      display: 'amqps://monitor:**@mq.example.com:5999/prod',
    });
    expect(parseBrokerUrl('amqps://u:p@[::1]/a%2Fb')).toMatchObject({
      hostname: '::1',
      port: 5671,
      vhost: 'a/b',
      display: 'amqps://u:**@[::1]:5671/a%2Fb',
    });
    expect(parseBrokerUrl('librabbitmq://u@h').password).toBe('');
  });

  it('refuses what is not an AMQP URL, without the password', () => {
    expect(() => parseBrokerUrl('redis://:S3cret@localhost:6379/0')).toThrow(
      'broker: expected an AMQP URL such as amqp://user:password@host:5672/vhost (redis:// is not supported)',
    );
    expect(() => parseBrokerUrl('rabbit:5672')).toThrow(/^broker: expected an AMQP URL/);
    expect(() => parseBrokerUrl('amqp://u:S3cret@h:99999/')).toThrow('broker: not a URL');
    expect(() => parseBrokerUrl('amqp://u:%zz@h/')).toThrow(
      'broker: the password in the URL is not well %-encoded',
    );
    expect(() =>
      CELERY_CHECK_TYPE.create(
        { name: 'c', body: { broker: 'redis://:S3cret@h/0' }, packParameters: {} },
        SERVICE_DEPENDENCIES,
      ),
    ).toThrow(/redis:\/\/ is not supported/);
  });

  it('masks a password in a message, as given and %-encoded', () => {
    expect(withoutPassword('a p@ss/w0rd b p%40ss%2Fw0rd c', 'p@ss/w0rd')).toBe('a ** b ** c');
    expect(withoutPassword('nothing', '')).toBe('nothing');
  });
});
