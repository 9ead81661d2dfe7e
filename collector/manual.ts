import { startInfluxd } from './test/helpers/influxd.ts';

const i = await startInfluxd();
console.log(i.url);
await new Promise((r) => setTimeout(r, 120_000));
await i.close();
