import { Module } from '@nestjs/common';
import { OrdersController } from './orders.controller';

/** The order service. */
@Module({ controllers: [OrdersController] })
export class OrdersModule {}
