import type { Communication, CommunicationPayload } from '@medplum/fhirtypes';
import type { ConsentCategory, RecipientKind } from '../../config/mappings-schema.js';
import type { AnyReference, MappingContext, MappedResource } from '../context.js';
import { extensions, systems } from '../../contract/vocabulary.js';
import { ext, recordIdentity } from './common.js';
import { maskedExtension, maskedPayloadText, payloadContentShared } from '../consent-scope.js';

/** One piece of content, labelled with the consent category it belongs to. */
export interface PayloadItem {
  category: ConsentCategory;
  text: string;
  /** The concern category, when the item is a routed concern. */
  concern?: string;
}

export interface CommunicationSpec {
  slot: string;
  recipientKind: RecipientKind;
  recipient: AnyReference;
  sent: string;
  items: PayloadItem[];
  /** Content about the service, not the person (the peer's role): not consent-limited. */
  serviceText?: string;
  /** Routed whatever the consent says, under the duty of care (safety): the exception is recorded. */
  dutyOfCare?: boolean;
  /** What the notification is about; default this record's CarePlan. */
  about?: AnyReference[];
}

/** One payload item: its labels always; its words only where consent-scope.ts lets them be written, else masked. */
function payload(ctx: MappingContext, spec: CommunicationSpec, item: PayloadItem): CommunicationPayload {
  const shared = payloadContentShared(ctx, item, spec.recipientKind, spec.dutyOfCare === true);
  return {
    extension: [
      { url: extensions.informationCategory, valueCoding: { system: systems.informationCategory, code: item.category } },
      ...ext(
        extensions.concernCategory,
        item.concern ? { valueCoding: { system: systems.concernCategory, code: item.concern } } : undefined,
      ),
      ...(shared ? [] : [maskedExtension]),
    ],
    contentString: shared ? item.text : maskedPayloadText(item.category),
  };
}

/**
 * A notification to one recipient (spec §5). Each payload item is labelled with its consent category
 * so that the consent gates can check it; the caller decides which items go in (see consent-scope.ts).
 */
export function buildCommunication(ctx: MappingContext, spec: CommunicationSpec): MappedResource {
  const communication: Communication = {
    resourceType: 'Communication',
    ...recordIdentity(ctx, spec.slot, 'peer-pathway-communication'),
    extension: [
      { url: extensions.recipientKind, valueCoding: { system: systems.recipientKind, code: spec.recipientKind } },
      ...ext(extensions.dutyOfCareException, spec.dutyOfCare ? { valueBoolean: true } : undefined),
    ],
    status: 'completed',
    category: [{ coding: [ctx.mappings.codes.communicationCategory] }],
    subject: ctx.person,
    about: spec.about ?? [{ reference: ctx.slotRef('careplan') }],
    sent: ctx.time.instant(spec.sent, 'recordedAt'),
    sender: ctx.peer,
    recipient: [spec.recipient],
    payload: [...(spec.serviceText ? [{ contentString: spec.serviceText }] : []), ...spec.items.map((item) => payload(ctx, spec, item))],
  };
  if (!communication.payload?.length) {
    communication.payload = [{ contentString: 'Peer support notification (no further content is covered by consent).' }];
  }
  return { slot: spec.slot, resource: communication };
}
