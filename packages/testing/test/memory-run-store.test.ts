// The reference store meets the contract every run store is held to.
import { MemoryRunStore } from '@phys/runtime';
import { describeRunStoreContract } from '../src/run-store-contract.js';

describeRunStoreContract('MemoryRunStore', () => new MemoryRunStore());
