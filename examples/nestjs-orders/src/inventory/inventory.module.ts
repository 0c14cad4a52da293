import { Module } from '@nestjs/common';
import { InventoryHandlers } from './inventory.handlers';

/** The inventory service. */
@Module({ providers: [InventoryHandlers] })
export class InventoryModule {}
