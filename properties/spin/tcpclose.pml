/* The spec's transition system (spec/) in Promela: one d_step per action, guard first.
 *
 * This file holds the rules; properties/spin/generate.py writes the rest of the model around it
 * (sizes, the workload tables, the state declarations and the boot, one option per action of
 * spec.system.candidates(), and the invariant checks in the order of properties/invariants.py).
 * Each section below mirrors one module of spec/ and keeps its names; read the module's docstring
 * for the kernel source and the simplifications. Differences of representation only:
 * - a tuple becomes an array and a length; a record that may be None gets an _on flag, and every
 *   field of an absent record or an unused array element is 0, so that equal spec states are
 *   equal state vectors and the distinct-state counts of the two engines are the same numbers;
 * - sequence numbers are stored relative to the socket's rcv_nxt at boot (modulo 2**32), so
 *   that they fit an int; the workload still to come is an index into a table of the boot state;
 * - an skb's constant fields (truesize, fin, zcopy, fclone, alloc_cpu) are read from the table of
 *   the packet it was built from (skb_rxi); its frees keep the count, the first CPU and the first
 *   reason; its stray touches keep the count;
 * - the boot state's constants (each socket's workload, the socket options, the CPUs' nodes) are
 *   macros, rx_cpu(i) and so on; the locals of a step (x_..., y_...) are hidden globals, written
 *   before they are read in every step.
 * Guards are macros (G_...), so that the quiescence test can evaluate all of them.
 */

/* -- encodings ------------------------------------------------------------------------------ */
/* where an skb is, and who acts (a context uses the code of the place it holds skbs in) */
#define W_NONE     0
#define W_RCVQ     1
#define W_ERRQ     2
#define W_TASK     3
#define W_SOFTIRQ  4
#define W_HOTPLUG  5
#define W_DEFER    6
#define W_FREED    7
#define W_RX       8
/* FreeEvent.how */
#define H_KFREE        1
#define H_ZCOPY        2
#define H_SAME_CPU     3
#define H_OUT_OF_RANGE 4
#define H_OFFLINE      5
#define H_FULL         6
#define H_FLUSH        7
#define H_HOTPLUG      8
/* Skb.destructor */
#define D_RFREE 1
#define D_RMEM  2
/* Sock.sk_state */
#define ESTABLISHED 0
#define CLOSE_WAIT  1
#define FIN_WAIT1   2
#define LAST_ACK    3
#define LISTEN      4
#define CLOSE       5
/* Task.op, Task.phase, DeferCtx.pc, FlushCtx.pc */
#define OP_RECV 0
#define OP_CLOSE 1
#define PH_COPY 0
#define PH_PURGE 1
#define PH_DECIDE 2
#define PC_CHECK 0
#define PC_COUNT 1
#define PC_PUSH 2
#define PC_KICK 3
#define FL_RESET 0
#define FL_DETACH 1
#define FL_FREE 2

/* -- indexing -------------------------------------------------------------------------------- */
#define SLOT(c, n)        ((c) * NNODE + (n))
#define SLOTE(c, n, j)    (SLOT(c, n) * NSKB + (j))
#define QE(k, j)          ((k) * NSKB + (j))
#define BE(c, j)          ((c) * NSKB + (j))
#define RXE(k, j)         ((k) * MAXRX + (j))
#define OPE(k, j)         ((k) * MAXOPS + (j))
/* an skb's constant fields, from the packet it was built from */
#define SKB_RX(i)         RXE(skb_owner[i], skb_rxi[i])
#define TRUESIZE(i)       rx_truesize(SKB_RX(i))
#define FIN(i)            rx_fin(SKB_RX(i))
#define ZCOPY(i)          rx_zcopy(SKB_RX(i))
#define FCLONE(i)         rx_fclone(SKB_RX(i))
#define ALLOC_CPU(i)      rx_cpu(SKB_RX(i))
#define V6                (DEFER_V6 == 1)
#define NR_SLOTS          (V6 -> NNODE : 1)
#define FIRST_PC          (V6 -> FL_RESET : FL_DETACH)

/* -- scratch: the locals of a step are hidden globals, declared by promela.py (SCRATCH) */

/* ================================================================================================
 * spec/core.py: the skb lifecycle primitives and the helpers every mechanism uses
 * ================================================================================================ */

/* holds() then the write: a writer that does not hold the skb is recorded (stray_touches) */
inline touch(i, ck, ci) {
  if
  :: (skb_wk[i] == W_TASK || skb_wk[i] == W_SOFTIRQ || skb_wk[i] == W_HOTPLUG || skb_wk[i] == W_RX) ->
       x_ok = (skb_wk[i] == ck && skb_wa[i] == ci)
  :: (skb_wk[i] == W_RCVQ || skb_wk[i] == W_ERRQ) -> x_ok = (ck == W_TASK && skb_wa[i] == ci)
  :: skb_wk[i] == W_DEFER -> x_ok = ((ck == W_SOFTIRQ || ck == W_HOTPLUG) && skb_wa[i] == ci)
  :: else -> x_ok = false
  fi;
  if
  :: !x_ok -> skb_nstray[i] = skb_nstray[i] + 1
  :: else
  fi
}

/* hand(): ctx places the skb somewhere; afterwards it no longer holds it */
inline hand(i, ck, ci, wk, wa, wb) {
  touch(i, ck, ci);
  skb_wk[i] = wk; skb_wa[i] = wa; skb_wb[i] = wb
}

/* per_cpu_fw_alloc_add(): this CPU's share, folded into memory_allocated at +-mem_pcpu_rsv */
inline per_cpu_fw_alloc_add(c, pages) {
  x_local = per_cpu_fw_alloc[c] + pages;
  if
  :: (x_local >= MEM_PCPU_RSV || x_local <= -MEM_PCPU_RSV) -> memory_allocated = memory_allocated + x_local; x_local = 0
  :: else
  fi;
  per_cpu_fw_alloc[c] = x_local
}

/* napi_cache_put(): a full cache hands napi_cache_bulk heads back to the slab */
inline napi_cache_put(c) {
  napi_skb_cache[c] = napi_skb_cache[c] + 1;
  if
  :: napi_skb_cache[c] >= NAPI_CACHE_SIZE -> napi_skb_cache[c] = napi_skb_cache[c] - NAPI_CACHE_BULK
  :: else
  fi
}

/* free_skb(): the memory goes back on cpu; the free is recorded in the skb's lifecycle */
inline free_skb(i, ck, ci, c, how, napi) {
  touch(i, ck, ci);
  skb_wk[i] = W_FREED; skb_wa[i] = 0; skb_wb[i] = 0;
  if
  :: skb_nfrees[i] == 0 -> skb_free_cpu[i] = c; skb_free_how[i] = how
  :: else
  fi;
  skb_nfrees[i] = skb_nfrees[i] + 1;
  if
  :: (napi && !FCLONE(i)) -> napi_cache_put(c)
  :: else
  fi
}

/* unlink(): __skb_unlink() of the head of socket k's receive queue; the task holds it */
inline unlink(k) {
  x_skb = rcvq[QE(k, 0)];
  for (x_j : 1 .. NSKB - 1) { rcvq[QE(k, x_j - 1)] = rcvq[QE(k, x_j)] };
  rcvq[QE(k, NSKB - 1)] = 0;
  rcvq_len[k] = rcvq_len[k] - 1;
  hand(x_skb, W_TASK, k, W_TASK, k, 0)
}

#define SYSCALL_FREE(k, op) \
  (!t_on[k] && ops_next[k] < ops_n(k) && op_op(OPE(k, ops_next[k])) == op && online[op_cpu(OPE(k, ops_next[k]))])
#define TASK_CAN_RUN(k)   (t_on[k] && online[t_cpu[k]] && !sirq_on[t_cpu[k]])

inline clear_defer(k) {
  d_on[k] = false; d_skb[k] = 0; d_pc[k] = 0; d_cpu[k] = 0; d_counted_on[k] = 0; d_counted_epoch[k] = 0;
  d_node[k] = 0; d_count[k] = 0; d_defer_max[k] = 0
}

inline clear_task(k) {
  t_on[k] = false; t_op[k] = 0; t_cpu[k] = 0; t_phase[k] = 0; t_recv_left[k] = 0; t_data_was_unread[k] = 0;
  clear_defer(k)
}

/* ================================================================================================
 * spec/accounting.py
 * ================================================================================================ */

inline sk_rmem_schedule_and_charge(k, c, truesize) {
  x_fwd = sk_forward_alloc[k];
  x_pages = truesize - x_fwd;   /* schedule_pages(): the shortfall in whole pages, rounded up */
  if
  :: x_pages <= 0 -> x_pages = 0
  :: else -> x_pages = (x_pages + PAGE_SIZE - 1) / PAGE_SIZE
  fi;
  if
  :: x_pages > 0 -> x_fwd = x_fwd + x_pages * PAGE_SIZE; per_cpu_fw_alloc_add(c, x_pages)
  :: else
  fi;
  sk_rmem_alloc[k] = sk_rmem_alloc[k] + truesize;
  sk_forward_alloc[k] = x_fwd - truesize
}

inline sock_rfree(k, c, truesize) {
  x_rmem = sk_rmem_alloc[k] - truesize;
  x_fwd = sk_forward_alloc[k] + truesize;
  if   /* unused_reserved_mem() */
  :: sk_reserved_mem(k) == 0 -> x_unused = 0
  :: else -> x_unused = sk_reserved_mem(k) - x_rmem; if :: x_unused < 0 -> x_unused = 0 :: else fi
  fi;
  x_r = x_fwd - x_unused;    /* reclaim_pages() */
  if
  :: x_r >= PAGE_SIZE -> x_pages = x_r / PAGE_SIZE; x_fwd = x_fwd - x_pages * PAGE_SIZE; per_cpu_fw_alloc_add(c, -x_pages)
  :: else
  fi;
  sk_rmem_alloc[k] = x_rmem;
  sk_forward_alloc[k] = x_fwd
}

inline sock_rmem_free(k, truesize) {
  sk_rmem_alloc[k] = sk_rmem_alloc[k] - truesize
}

/* ================================================================================================
 * spec/skbuff.py
 * ================================================================================================ */

/* alloc_skb(): built on the packet's CPU from its NAPI cache, held by ctx (rx, cpu) */
inline alloc_skb(k, j, seq, end) {
  x_skb = nskbs;
  nskbs = nskbs + 1;
  x_cpu = rx_cpu(RXE(k, j));
  if
  :: napi_skb_cache[x_cpu] > 0 -> napi_skb_cache[x_cpu] = napi_skb_cache[x_cpu] - 1
  :: else
  fi;
  skb_owner[x_skb] = k; skb_rxi[x_skb] = j; skb_seq[x_skb] = seq; skb_end_seq[x_skb] = end;
  skb_sk[x_skb] = -1; skb_destructor[x_skb] = 0;
  skb_wk[x_skb] = W_RX; skb_wa[x_skb] = x_cpu; skb_wb[x_skb] = 0
}

inline run_destructor(i, ck, ci, c) {
  if
  :: (skb_destructor[i] != 0 && skb_sk[i] >= 0) ->
       if
       :: skb_destructor[i] == D_RFREE -> sock_rfree(skb_sk[i], c, TRUESIZE(i))
       :: else -> sock_rmem_free(skb_sk[i], TRUESIZE(i))
       fi;
       touch(i, ck, ci);
       skb_destructor[i] = 0; skb_sk[i] = -1
  :: else
  fi
}

inline kfree_skb(i, ck, ci, c, how) {
  run_destructor(i, ck, ci, c);
  free_skb(i, ck, ci, c, how, false)
}

inline kfree_skb_napi_cache(i, ck, ci, c, how) {
  if
  :: FCLONE(i) -> kfree_skb(i, ck, ci, c, how)
  :: else -> run_destructor(i, ck, ci, c); free_skb(i, ck, ci, c, how, true)
  fi
}

/* ================================================================================================
 * spec/close.py
 * ================================================================================================ */

/* tcp_eat_recv_skb() of the head of socket k's receive queue */
inline tcp_eat_recv_skb(k) {
  unlink(k);
  if
  :: (skb_destructor[x_skb] != D_RFREE || skb_sk[x_skb] < 0) -> kfree_skb(x_skb, W_TASK, k, t_cpu[k], H_KFREE)
  :: else ->
       sock_rfree(skb_sk[x_skb], t_cpu[k], TRUESIZE(x_skb));
       touch(x_skb, W_TASK, k); skb_destructor[x_skb] = 0; skb_sk[x_skb] = -1;
       d_on[k] = true; d_skb[k] = x_skb; d_pc[k] = PC_CHECK; d_cpu[k] = -1; d_counted_on[k] = -1;
       d_counted_epoch[k] = -1; d_node[k] = 0; d_count[k] = 0; d_defer_max[k] = 0
  fi
}

#define G_CloseStart(k) SYSCALL_FREE(k, OP_CLOSE)

inline A_CloseStart(k) {
  t_on[k] = true; t_op[k] = OP_CLOSE; t_cpu[k] = op_cpu(OPE(k, ops_next[k]));
  ops_next[k] = ops_next[k] + 1;
  shutdown[k] = true;
  if
  :: sk_state[k] == LISTEN -> t_phase[k] = PH_DECIDE; sk_state[k] = CLOSE
  :: else -> t_phase[k] = PH_PURGE
  fi
}

#define CLOSING(k) (t_on[k] && t_op[k] == OP_CLOSE && !d_on[k])
#define G_PurgeStep(k) (CLOSING(k) && t_phase[k] == PH_PURGE && rcvq_len[k] > 0 && TASK_CAN_RUN(k))

inline A_PurgeStep(k) {
  x_i = rcvq[QE(k, 0)];
  if
  :: UNREAD_END_SEQ ->  /* unread_by_end_seq(): after(end_seq - fin, copied_seq) */
       if
       :: (copied_seq[k] - (skb_end_seq[x_i] - FIN(x_i)) < 0) -> t_data_was_unread[k] = 1
       :: else
       fi
  :: else ->            /* unread_len_sum(): the u32 sum of every skb's payload */
       t_data_was_unread[k] = t_data_was_unread[k] + (skb_end_seq[x_i] - skb_seq[x_i] - FIN(x_i))
  fi;
  if
  :: CLOSE_NEW -> tcp_eat_recv_skb(k)
  :: else -> unlink(k); kfree_skb(x_skb, W_TASK, k, t_cpu[k], H_KFREE)
  fi
}

#define G_CloseDecide(k) (CLOSING(k) && !(t_phase[k] == PH_PURGE && rcvq_len[k] > 0) && TASK_CAN_RUN(k))

inline A_CloseDecide(k) {
  if
  :: sk_state[k] == CLOSE -> skip
  :: (sk_state[k] != CLOSE && REPAIR(k)) -> sk_state[k] = CLOSE
  :: (sk_state[k] != CLOSE && !REPAIR(k) && t_data_was_unread[k] != 0) ->
       sk_state[k] = CLOSE; TCPABORTONCLOSE[k] = TCPABORTONCLOSE[k] + 1; rst_sent[k] = rst_sent[k] + 1
  :: (sk_state[k] != CLOSE && !REPAIR(k) && t_data_was_unread[k] == 0 && LINGER0(k)) ->
       if
       :: (sk_state[k] == ESTABLISHED || sk_state[k] == CLOSE_WAIT || sk_state[k] == FIN_WAIT1) ->
            rst_sent[k] = rst_sent[k] + 1
       :: else
       fi;
       sk_state[k] = CLOSE; TCPABORTONDATA[k] = TCPABORTONDATA[k] + 1
  :: else ->  /* tcp_close_state() */
       if
       :: sk_state[k] == ESTABLISHED -> sk_state[k] = FIN_WAIT1; fin_sent[k] = fin_sent[k] + 1
       :: sk_state[k] == CLOSE_WAIT -> sk_state[k] = LAST_ACK; fin_sent[k] = fin_sent[k] + 1
       :: else -> sk_state[k] = CLOSE
       fi
  fi;
  clear_task(k)
}

/* ================================================================================================
 * spec/receive.py
 * ================================================================================================ */

#define RXI(k)  RXE(k, rx_next[k])
#define G_PacketArrives(k) \
  (rx_next[k] < rx_n(k) && !rx_errqueue(RXI(k)) && !t_on[k] && sk_state[k] == ESTABLISHED \
   && online[rx_cpu(RXI(k))] && !sirq_on[rx_cpu(RXI(k))] && rx_length(RXI(k)) >= 0 && rx_overlap(RXI(k)) >= 0 \
   && rx_truesize(RXI(k)) > 0 && rx_overlap(RXI(k)) < rx_length(RXI(k)) + rx_fin(RXI(k)))

inline A_PacketArrives(k) {
  x_n = rx_next[k];
  x_seq = rcv_nxt[k] - rx_overlap(RXE(k, x_n));
  x_end = x_seq + rx_length(RXE(k, x_n)) + rx_fin(RXE(k, x_n));
  alloc_skb(k, x_n, x_seq, x_end);
  x_c = rx_cpu(RXE(k, x_n));
  sk_rmem_schedule_and_charge(k, x_c, rx_truesize(RXE(k, x_n)));
  touch(x_skb, W_RX, x_c); skb_sk[x_skb] = k; skb_destructor[x_skb] = D_RFREE;
  hand(x_skb, W_RX, x_c, W_RCVQ, k, 0);
  rx_next[k] = x_n + 1;
  rcv_nxt[k] = x_end;
  rcvq[QE(k, rcvq_len[k])] = x_skb; rcvq_len[k] = rcvq_len[k] + 1;
  if
  :: rx_fin(RXE(k, x_n)) -> sk_state[k] = CLOSE_WAIT
  :: else
  fi
}

#define G_ErrQueueCharge(k) (rx_next[k] < rx_n(k) && rx_errqueue(RXI(k)) && online[rx_cpu(RXI(k))])

inline A_ErrQueueCharge(k) {
  x_n = rx_next[k];
  alloc_skb(k, x_n, ERRQ_SEQ(k), ERRQ_SEQ(k));
  x_c = rx_cpu(RXE(k, x_n));
  touch(x_skb, W_RX, x_c); skb_sk[x_skb] = k; skb_destructor[x_skb] = D_RMEM;
  hand(x_skb, W_RX, x_c, W_ERRQ, k, 0);
  rx_next[k] = x_n + 1;
  sk_rmem_alloc[k] = sk_rmem_alloc[k] + rx_truesize(RXE(k, x_n));
  errq[QE(k, errq_len[k])] = x_skb; errq_len[k] = errq_len[k] + 1
}

#define G_RecvStart(k) SYSCALL_FREE(k, OP_RECV)

inline A_RecvStart(k) {
  t_on[k] = true; t_op[k] = OP_RECV; t_cpu[k] = op_cpu(OPE(k, ops_next[k])); t_phase[k] = PH_COPY;
  t_recv_left[k] = op_nbytes(OPE(k, ops_next[k]));
  ops_next[k] = ops_next[k] + 1
}

#define RECV_BETWEEN(k) (t_on[k] && t_op[k] == OP_RECV && !d_on[k])
#define G_RecvCopy(k) (RECV_BETWEEN(k) && t_recv_left[k] != 0 && rcvq_len[k] > 0 && TASK_CAN_RUN(k))

inline A_RecvCopy(k) {
  x_i = rcvq[QE(k, 0)];
  x_off = copied_seq[k] - skb_seq[x_i];
  /* payload_len() minus the offset; an offset "before" the skb is a huge u32 in the spec */
  if
  :: x_off >= 0 -> x_avail = skb_end_seq[x_i] - skb_seq[x_i] - FIN(x_i) - x_off
  :: else -> x_avail = -1
  fi;
  x_used = x_avail;
  if :: t_recv_left[k] < x_used -> x_used = t_recv_left[k] :: else fi;
  if :: x_used < 0 -> x_used = 0 :: else fi;
  copied_seq[k] = copied_seq[k] + x_used;
  x_left = t_recv_left[k] - x_used;
  if
  :: x_used < x_avail -> t_recv_left[k] = x_left
  :: else ->
       if
       :: FIN(x_i) -> copied_seq[k] = copied_seq[k] + 1; x_left = 0  /* found_fin_ok */
       :: else
       fi;
       t_recv_left[k] = x_left;
       tcp_eat_recv_skb(k)
  fi
}

#define G_RecvEnd(k) (RECV_BETWEEN(k) && !(t_recv_left[k] != 0 && rcvq_len[k] > 0) && TASK_CAN_RUN(k))

inline A_RecvEnd(k) {
  clear_task(k)
}

/* ================================================================================================
 * spec/defer.py
 * ================================================================================================ */

inline free_now(k, how) {
  kfree_skb_napi_cache(d_skb[k], W_TASK, k, t_cpu[k], how);
  clear_defer(k)
}

#define AT_DEFER(k, pc) (t_on[k] && d_on[k] && d_pc[k] == pc && TASK_CAN_RUN(k))
#define G_DeferCheck(k) AT_DEFER(k, PC_CHECK)

inline A_DeferCheck(k) {
  x_cpu = ALLOC_CPU(d_skb[k]);
  if
  :: ZCOPY(d_skb[k]) -> free_now(k, H_ZCOPY)
  :: (!ZCOPY(d_skb[k]) && x_cpu == t_cpu[k]) -> free_now(k, H_SAME_CPU)
  :: (!ZCOPY(d_skb[k]) && x_cpu != t_cpu[k] && x_cpu >= NCPU) -> free_now(k, H_OUT_OF_RANGE)
  :: (!ZCOPY(d_skb[k]) && x_cpu != t_cpu[k] && x_cpu < NCPU && !online[x_cpu]) -> free_now(k, H_OFFLINE)
  :: else ->
       if
       :: V6 -> d_pc[k] = PC_COUNT; d_cpu[k] = x_cpu
       :: (!V6 && defer_count[SLOT(x_cpu, 0)] >= skb_defer_max) -> free_now(k, H_FULL)
       :: else -> d_pc[k] = PC_PUSH; d_cpu[k] = x_cpu; d_defer_max[k] = skb_defer_max
       fi
  fi
}

#define G_DeferCount(k) (V6 && AT_DEFER(k, PC_COUNT))

inline A_DeferCount(k) {
  x_node = cpu_node(t_cpu[k]);
  x_count = defer_count[SLOT(d_cpu[k], x_node)] + 1;
  defer_count[SLOT(d_cpu[k], x_node)] = x_count;
  if
  :: x_count >= skb_defer_max -> free_now(k, H_FULL)   /* defer_fallback() */
  :: else ->
       d_pc[k] = PC_PUSH; d_node[k] = x_node; d_count[k] = x_count; d_defer_max[k] = skb_defer_max;
       d_counted_on[k] = t_cpu[k]; d_counted_epoch[k] = epoch[SLOT(d_cpu[k], x_node)]
  fi
}

#define G_DeferPush(k) AT_DEFER(k, PC_PUSH)

/* llist_add(): the slot's list is newest first */
inline push_front(s, i) {
  for (x_j : 1 .. NSKB - 1) { defer_list[s * NSKB + NSKB - x_j] = defer_list[s * NSKB + NSKB - x_j - 1] };
  defer_list[s * NSKB] = i;
  defer_len[s] = defer_len[s] + 1
}

inline A_DeferPush(k) {
  x_skb = d_skb[k];
  x_m = SLOT(d_cpu[k], d_node[k]);
  x_count = defer_count[x_m];   /* the count before this push (defer-v2 reads it under the lock) */
  x_e = epoch[x_m];
  if
  :: V6 -> x_kick = (d_count[k] - 1 == d_defer_max[k] / 2)     /* defer_kick() */
  :: else -> x_kick = (x_count == d_defer_max[k] / 2); defer_count[x_m] = x_count + 1  /* defer_v2_kick() */
  fi;
  push_front(x_m, x_skb);
  touch(x_skb, W_TASK, k);
  skb_deferred[x_skb] = true;
  skb_def_node[x_skb] = d_node[k];
  skb_def_defer_max[x_skb] = d_defer_max[k];
  if
  :: V6 -> skb_def_producer[x_skb] = d_counted_on[k]; skb_def_epoch[x_skb] = d_counted_epoch[k]; skb_def_count[x_skb] = d_count[k]
  :: else -> skb_def_producer[x_skb] = t_cpu[k]; skb_def_epoch[x_skb] = x_e; skb_def_count[x_skb] = x_count + 1
  fi;
  hand(x_skb, W_TASK, k, W_DEFER, d_cpu[k], d_node[k]);
  if
  :: x_kick -> d_pc[k] = PC_KICK
  :: else -> clear_defer(k)
  fi
}

#define G_DeferKick(k) AT_DEFER(k, PC_KICK)

/* kick_defer_list_purge(): claim the IPI guard; queue the IPI if it was clear (and c is online) */
inline kick_defer_list_purge(c) {
  kick_unserved[c] = true;
  if
  :: !defer_ipi_scheduled[c] -> defer_ipi_scheduled[c] = true; ipi_queued[c] = ipi_queued[c] + online[c]
  :: else
  fi
}

inline A_DeferKick(k) {
  x_c = d_cpu[k];
  clear_defer(k);
  kick_defer_list_purge(x_c)
}

/* ================================================================================================
 * spec/flush.py
 * ================================================================================================ */

#define G_IpiDeliver(c) (ipi_queued[c] > 0 && online[c])

inline A_IpiDeliver(c) {
  ipi_queued[c] = ipi_queued[c] - 1; net_rx_pending[c] = true; defer_ipi_scheduled[c] = false
}

#define G_SoftirqStart(c) (net_rx_pending[c] && online[c] && !sirq_on[c])

inline A_SoftirqStart(c) {
  net_rx_pending[c] = false; sirq_on[c] = true; sirq_node[c] = 0; sirq_pc[c] = FIRST_PC; kick_unserved[c] = false
}

inline clear_batch(c) {
  for (x_j : 0 .. NSKB - 1) { sirq_batch[BE(c, x_j)] = 0 };
  sirq_nbatch[c] = 0
}

inline next_slot(c) {
  clear_batch(c);
  if
  :: sirq_node[c] + 1 >= NR_SLOTS -> sirq_on[c] = false; sirq_node[c] = 0; sirq_pc[c] = 0  /* NET_RX is over */
  :: else -> sirq_node[c] = sirq_node[c] + 1; sirq_pc[c] = FIRST_PC
  fi
}

#define G_FlushReset(c) (V6 && sirq_on[c] && sirq_pc[c] == FL_RESET)

inline A_FlushReset(c) {
  x_m = SLOT(c, sirq_node[c]);
  if
  :: defer_len[x_m] == 0 -> next_slot(c)
  :: else -> defer_count[x_m] = 0; epoch[x_m] = epoch[x_m] + 1; sirq_pc[c] = FL_DETACH
  fi
}

#define G_FlushDetach(c) (sirq_on[c] && sirq_pc[c] == FL_DETACH)

inline A_FlushDetach(c) {
  x_m = SLOT(c, sirq_node[c]);
  if
  :: (!V6 && defer_len[x_m] == 0) -> next_slot(c)
  :: else ->
       if
       :: !V6 -> defer_count[x_m] = 0; epoch[x_m] = epoch[x_m] + 1
       :: else
       fi;
       x_len = defer_len[x_m];
       for (x_n : 0 .. NSKB - 1) {
         sirq_batch[BE(c, x_n)] = defer_list[x_m * NSKB + x_n];
         defer_list[x_m * NSKB + x_n] = 0
       };
       defer_len[x_m] = 0;
       sirq_nbatch[c] = x_len;
       for (x_n : 0 .. NSKB - 1) {
         if
         :: x_n < x_len -> hand(sirq_batch[BE(c, x_n)], W_SOFTIRQ, c, W_SOFTIRQ, c, 0)
         :: else
         fi
       };
       sirq_pc[c] = FL_FREE
  fi
}

#define G_FlushFree(c) (sirq_on[c] && sirq_pc[c] == FL_FREE)

inline A_FlushFree(c) {
  for (x_n : 0 .. NSKB - 1) {
    if
    :: x_n < sirq_nbatch[c] -> x_i = sirq_batch[BE(c, x_n)]; kfree_skb_napi_cache(x_i, W_SOFTIRQ, c, c, H_FLUSH)
    :: else
    fi
  };
  next_slot(c)
}

#define G_RaiseNetRx(c) (env_netrx_raises > 0 && online[c] && !net_rx_pending[c])

inline A_RaiseNetRx(c) {
  env_netrx_raises = env_netrx_raises - 1; net_rx_pending[c] = true
}

/* ================================================================================================
 * spec/hotplug.py
 * ================================================================================================ */

/* survivor(): the lowest-numbered other online CPU */
inline survivor(dead) {
  x_to = NCPU;
  for (y_i : 0 .. NCPU - 1) {
    if
    :: (x_to == NCPU && online[y_i] && y_i != dead) -> x_to = y_i
    :: else
    fi
  }
}

#define G_CpuOffline(c) (env_offlines > 0 && online[c] && OTHER_ONLINE(c) && !sirq_on[c])

inline A_CpuOffline(c) {
  env_offlines = env_offlines - 1;
  if
  :: ipi_queued[c] > 0 -> ipi_queued[c] = 0; net_rx_pending[c] = true; defer_ipi_scheduled[c] = false
  :: else
  fi;
  survivor(c);
  for (y_j : 0 .. NSOCK - 1) {
    if
    :: (t_on[y_j] && t_cpu[y_j] == c) -> t_cpu[y_j] = x_to
    :: else
    fi
  };
  online[c] = false; dead_pending[c] = true
}

#define G_DevCpuDead(c) (dead_pending[c])

inline A_DevCpuDead(c) {
  dead_pending[c] = false;
  if
  :: HOTPLUG_FLUSH ->
       survivor(c);
       for (y_n : 0 .. NNODE - 1) {
         x_m = SLOT(c, y_n);
         x_len = defer_len[x_m];
         defer_count[x_m] = 0; epoch[x_m] = epoch[x_m] + 1; defer_len[x_m] = 0;
         for (y_j : 0 .. NSKB - 1) {
           x_i = defer_list[x_m * NSKB + y_j];
           defer_list[x_m * NSKB + y_j] = 0;
           if
           :: y_j < x_len -> hand(x_i, W_HOTPLUG, c, W_HOTPLUG, c, 0); kfree_skb(x_i, W_HOTPLUG, c, x_to, H_HOTPLUG)
           :: else
           fi
         }
       }
  :: else
  fi
}

#define G_CpuOnline(c) (!online[c] && !dead_pending[c])

inline A_CpuOnline(c) {
  online[c] = true
}

/* ================================================================================================
 * spec/system.py: the scheduler and the sysctl
 * ================================================================================================ */

#define G_Migrate(k, c) (env_migrations > 0 && t_on[k] && c != t_cpu[k] && online[c])

inline A_Migrate(k, c) {
  env_migrations = env_migrations - 1; t_cpu[k] = c
}

#define G_SetDeferMax(v) (env_defer_max_writes > 0 && v != skb_defer_max)

inline A_SetDeferMax(v) {
  skb_defer_max = v; env_defer_max_writes = env_defer_max_writes - 1
}
