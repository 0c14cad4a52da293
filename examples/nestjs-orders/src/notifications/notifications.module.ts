import { Module } from '@nestjs/common';
import { NotificationHandlers } from './notifications.handlers';

/** The notification service. */
@Module({ providers: [NotificationHandlers] })
export class NotificationsModule {}
