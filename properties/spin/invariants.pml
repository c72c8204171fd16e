/* The invariants of properties/invariants.py as assertions, one inline per invariant, each named
 * after it (SPIN's message "assertion violated <name>" names the invariant). Like the Python
 * predicates they are written from the promises, not from the rules: they read the state and the
 * ghost history and never call an inline of tcpclose.pml. properties/spin/generate.py calls them
 * in the registry's order: after each step the transition invariants, then the state invariants,
 * then, in a quiescent state, the liveness ones; the first that fails stops the search, as the
 * first violated invariant ends properties.checker.check_run().
 *
 * Transition invariants read the pre-state saved by save_pre(); ``act`` is the action's number
 * (ACT_...), ``a`` its socket, CPU or value. One difference: an skb's frees keep the first CPU and
 * reason only, so flush_frees_locally judges an skb's first free (a second one is a double free,
 * which freed_at_most_once reports).
 */

#define LIST(s, j)  defer_list[(s) * NSKB + (j)]

inline save_pre() {
  pre_skb_defer_max = skb_defer_max;
  for (y_i : 0 .. NSOCK - 1) {
    pre_rmem[y_i] = sk_rmem_alloc[y_i]; pre_aborts[y_i] = TCPABORTONCLOSE[y_i]
  };
  for (y_i : 0 .. NCPU - 1) { pre_online[y_i] = online[y_i] };
  for (y_i : 0 .. NSKB - 1) { pre_nfrees[y_i] = skb_nfrees[y_i] };
  for (y_i : 0 .. NCPU * NNODE - 1) {
    pre_defer_count[y_i] = defer_count[y_i]; pre_defer_len[y_i] = defer_len[y_i]
  };
  for (y_i : 0 .. NCPU * NNODE * NSKB - 1) { pre_defer_list[y_i] = defer_list[y_i] }
}

/* the socket of a socket action, before the step */
inline save_pre_sock(k) {
  pre_sk_state = sk_state[k]; pre_rcv_nxt = rcv_nxt[k]; pre_copied_seq = copied_seq[k];
  pre_rst = rst_sent[k]; pre_fin = fin_sent[k];
  pre_t_cpu = t_cpu[k]; pre_d_cpu = d_cpu[k]; pre_d_skb = d_skb[k]; pre_d_count = d_count[k];
  pre_d_defer_max = d_defer_max[k]
}

/* -- accounting --------------------------------------------------------------------------------- */

inline check_rmem_matches_charged() {
  rmem_matches_charged = true;
  for (y_j : 0 .. NSOCK - 1) {
    x_sum = 0;
    for (y_i : 0 .. NSKB - 1) {
      if
      :: (y_i < nskbs && (skb_wk[y_i] == W_RCVQ || skb_wk[y_i] == W_ERRQ) && skb_wa[y_i] == y_j) -> x_sum = x_sum + TRUESIZE(y_i)
      :: else
      fi
    };
    if :: sk_rmem_alloc[y_j] != x_sum -> rmem_matches_charged = false :: else fi
  };
  assert(rmem_matches_charged)
}

inline check_forward_alloc_nonnegative() {
  forward_alloc_nonnegative = true;
  for (y_j : 0 .. NSOCK - 1) { if :: sk_forward_alloc[y_j] < 0 -> forward_alloc_nonnegative = false :: else fi };
  assert(forward_alloc_nonnegative)
}

inline check_forward_alloc_bound(act, a) {
  forward_alloc_bound = true;
  for (y_j : 0 .. NSOCK - 1) {
    if
    :: sk_rmem_alloc[y_j] < pre_rmem[y_j] ->
         x_unused = 0;
         if :: (sk_reserved_mem(y_j) != 0 && sk_reserved_mem(y_j) > sk_rmem_alloc[y_j]) -> x_unused = sk_reserved_mem(y_j) - sk_rmem_alloc[y_j] :: else fi;
         x_spare = sk_forward_alloc[y_j] - x_unused;
         if :: (x_spare < 0 || x_spare >= PAGE_SIZE) -> forward_alloc_bound = false :: else fi
    :: else
    fi
  };
  assert(forward_alloc_bound)
}

inline check_page_conservation() {
  page_conservation = true;
  x_held = 0;
  for (y_j : 0 .. NSOCK - 1) {
    x_total = sk_forward_alloc[y_j];
    for (y_i : 0 .. NSKB - 1) { if :: y_i < rcvq_len[y_j] -> x_total = x_total + TRUESIZE(rcvq[QE(y_j, y_i)]) :: else fi };
    if :: x_total % PAGE_SIZE != 0 -> page_conservation = false :: else fi;
    x_held = x_held + x_total / PAGE_SIZE
  };
  x_counted = memory_allocated;
  for (y_i : 0 .. NCPU - 1) { x_counted = x_counted + per_cpu_fw_alloc[y_i] };
  if :: x_counted != x_held -> page_conservation = false :: else fi;
  assert(page_conservation)
}

inline check_pcpu_within_reserve() {
  pcpu_within_reserve = true;
  for (y_i : 0 .. NCPU - 1) {
    if
    :: (MEM_PCPU_RSV == 0 && per_cpu_fw_alloc[y_i] != 0) -> pcpu_within_reserve = false
    :: (MEM_PCPU_RSV != 0 && (per_cpu_fw_alloc[y_i] <= -MEM_PCPU_RSV || per_cpu_fw_alloc[y_i] >= MEM_PCPU_RSV)) -> pcpu_within_reserve = false
    :: else
    fi
  };
  assert(pcpu_within_reserve)
}

inline check_rmem_zero_after_purge(act, a) {
  rmem_zero_after_purge = !(act == ACT_CloseDecide && sk_rmem_alloc[a] != 0);
  assert(rmem_zero_after_purge)
}

/* -- skb lifecycle ------------------------------------------------------------------------------ */

inline check_freed_at_most_once() {
  freed_at_most_once = true;
  for (y_i : 0 .. NSKB - 1) { if :: skb_nfrees[y_i] > 1 -> freed_at_most_once = false :: else fi };
  assert(freed_at_most_once)
}

inline check_no_touch_after_handoff() {
  no_touch_after_handoff = true;
  for (y_i : 0 .. NSKB - 1) { if :: skb_nstray[y_i] > 0 -> no_touch_after_handoff = false :: else fi };
  assert(no_touch_after_handoff)
}

/* one container holds skb i at place (wk, wa, wb): count it for the skb, and whether it is the place the skb names */
inline seen_at(i, wk, wa, wb) {
  seen_n[i] = seen_n[i] + 1;
  if :: (skb_wk[i] == wk && skb_wa[i] == wa && skb_wb[i] == wb) -> seen_match[i] = seen_match[i] + 1 :: else fi
}

inline check_skb_in_exactly_one_place() {
  skb_in_exactly_one_place = true;
  for (y_i : 0 .. NSKB - 1) { seen_n[y_i] = 0; seen_match[y_i] = 0 };
  for (y_j : 0 .. NSOCK - 1) {
    for (y_n : 0 .. NSKB - 1) {
      if :: y_n < rcvq_len[y_j] -> seen_at(rcvq[QE(y_j, y_n)], W_RCVQ, y_j, 0) :: else fi;
      if :: y_n < errq_len[y_j] -> seen_at(errq[QE(y_j, y_n)], W_ERRQ, y_j, 0) :: else fi
    };
    if :: (d_on[y_j] && d_pc[y_j] != PC_KICK) -> seen_at(d_skb[y_j], W_TASK, y_j, 0) :: else fi
  };
  for (x_c : 0 .. NCPU - 1) {
    for (x_node : 0 .. NNODE - 1) {
      for (y_n : 0 .. NSKB - 1) {
        if :: y_n < defer_len[SLOT(x_c, x_node)] -> seen_at(LIST(SLOT(x_c, x_node), y_n), W_DEFER, x_c, x_node) :: else fi
      }
    };
    for (y_n : 0 .. NSKB - 1) {
      if :: (sirq_on[x_c] && y_n < sirq_nbatch[x_c]) -> seen_at(sirq_batch[BE(x_c, y_n)], W_SOFTIRQ, x_c, 0) :: else fi
    }
  };
  for (y_i : 0 .. NSKB - 1) {
    if
    :: (y_i < nskbs && skb_wk[y_i] == W_FREED && seen_n[y_i] != 0) -> skb_in_exactly_one_place = false
    :: (y_i < nskbs && skb_wk[y_i] != W_FREED && (seen_n[y_i] != 1 || seen_match[y_i] != 1)) -> skb_in_exactly_one_place = false
    :: else
    fi
  };
  assert(skb_in_exactly_one_place)
}

/* -- defer lists -------------------------------------------------------------------------------- */

inline check_placed_by_the_rules() {
  placed_by_the_rules = true;
  for (x_c : 0 .. NCPU - 1) {
    for (x_node : 0 .. NNODE - 1) {
      for (y_n : 0 .. NSKB - 1) {
        if
        :: y_n < defer_len[SLOT(x_c, x_node)] ->
             y_i = LIST(SLOT(x_c, x_node), y_n);
             if
             :: !skb_deferred[y_i] -> placed_by_the_rules = false
             :: ALLOC_CPU(y_i) != x_c -> placed_by_the_rules = false
             :: (V6 && cpu_node(skb_def_producer[y_i]) != x_node) -> placed_by_the_rules = false
             :: (V6 && skb_def_count[y_i] >= skb_def_defer_max[y_i]) -> placed_by_the_rules = false
             :: else
             fi
        :: else
        fi
      }
    }
  };
  assert(placed_by_the_rules)
}

inline check_slot_epoch_bound() {
  slot_epoch_bound = true;
  if
  :: V6 ->
       for (x_m : 0 .. NCPU * NNODE - 1) {
         for (y_n : 0 .. NSKB - 1) {
           if
           :: (y_n < defer_len[x_m] && skb_deferred[LIST(x_m, y_n)]) ->
                y_i = LIST(x_m, y_n);
                x_count = 0; x_lim = 0;
                for (y_j : 0 .. NSKB - 1) {
                  if
                  :: (y_j < defer_len[x_m] && skb_deferred[LIST(x_m, y_j)] && skb_def_epoch[LIST(x_m, y_j)] == skb_def_epoch[y_i]) ->
                       x_count = x_count + 1;
                       if :: skb_def_defer_max[LIST(x_m, y_j)] > x_lim -> x_lim = skb_def_defer_max[LIST(x_m, y_j)] :: else fi;
                       if :: (y_j != y_n && skb_def_count[LIST(x_m, y_j)] == skb_def_count[y_i]) -> slot_epoch_bound = false :: else fi
                  :: else
                  fi
                };
                if :: (x_count > x_lim - 1) -> slot_epoch_bound = false :: else fi
           :: else
           fi
         }
       }
  :: else
  fi;
  assert(slot_epoch_bound)
}

inline check_v2_count_matches_list() {
  v2_count_matches_list = true;
  if
  :: !V6 ->
       for (x_c : 0 .. NCPU - 1) {
         if :: defer_count[SLOT(x_c, 0)] != defer_len[SLOT(x_c, 0)] -> v2_count_matches_list = false :: else fi
       }
  :: else
  fi;
  assert(v2_count_matches_list)
}

inline check_full_slot_falls_back(act, a) {
  full_slot_falls_back = true;
  if
  :: (act == ACT_DeferCount && V6) ->
       x_m = SLOT(pre_d_cpu, cpu_node(pre_t_cpu));
       x_ok = true;   /* the target's lists did not change */
       for (y_n : 0 .. NNODE - 1) {
         if :: defer_len[SLOT(pre_d_cpu, y_n)] != pre_defer_len[SLOT(pre_d_cpu, y_n)] -> x_ok = false :: else fi;
         for (y_j : 0 .. NSKB - 1) {
           if :: LIST(SLOT(pre_d_cpu, y_n), y_j) != pre_defer_list[SLOT(pre_d_cpu, y_n) * NSKB + y_j] -> x_ok = false :: else fi
         }
       };
       if
       :: (defer_count[x_m] >= pre_skb_defer_max && !(skb_nfrees[pre_d_skb] == 1 && skb_free_cpu[pre_d_skb] == pre_t_cpu
           && skb_free_how[pre_d_skb] == H_FULL && x_ok)) -> full_slot_falls_back = false
       :: (defer_count[x_m] < pre_skb_defer_max && skb_nfrees[pre_d_skb] > 0) -> full_slot_falls_back = false
       :: else
       fi
  :: (act == ACT_DeferCheck && !V6) ->
       x_c = ALLOC_CPU(pre_d_skb);
       if
       :: (x_c != pre_t_cpu && !ZCOPY(pre_d_skb) && pre_online[x_c] && pre_defer_count[SLOT(x_c, 0)] >= pre_skb_defer_max
           && skb_nfrees[pre_d_skb] == 0) -> full_slot_falls_back = false
       :: else
       fi
  :: else
  fi;
  assert(full_slot_falls_back)
}

inline check_defer_check_sees_online(act, a) {
  defer_check_sees_online = true;
  if
  :: (act == ACT_DeferCheck && skb_nfrees[pre_d_skb] == 0) ->
       x_c = ALLOC_CPU(pre_d_skb);
       if :: (ZCOPY(pre_d_skb) || x_c == pre_t_cpu || !pre_online[x_c]) -> defer_check_sees_online = false :: else fi
  :: else
  fi;
  assert(defer_check_sees_online)
}

inline check_flush_frees_locally(act, a) {
  flush_frees_locally = true;
  if
  :: act == ACT_FlushFree ->
       for (y_i : 0 .. NSKB - 1) {
         if
         :: (pre_nfrees[y_i] == 0 && skb_nfrees[y_i] > 0 && skb_free_how[y_i] == H_FLUSH
             && (skb_free_cpu[y_i] != a || ALLOC_CPU(y_i) != a)) -> flush_frees_locally = false
         :: else
         fi
       }
  :: else
  fi;
  assert(flush_frees_locally)
}

inline check_dev_cpu_dead_empties_slots(act, a) {
  dev_cpu_dead_empties_slots = true;
  if
  :: (act == ACT_DevCpuDead && HOTPLUG_FLUSH) ->
       for (y_n : 0 .. NNODE - 1) {
         if :: defer_len[SLOT(a, y_n)] != 0 -> dev_cpu_dead_empties_slots = false :: else fi;
         for (y_j : 0 .. NSKB - 1) {
           if
           :: (y_j < pre_defer_len[SLOT(a, y_n)] && skb_nfrees[pre_defer_list[SLOT(a, y_n) * NSKB + y_j]] != 1) ->
                dev_cpu_dead_empties_slots = false
           :: else
           fi
         }
       }
  :: else
  fi;
  assert(dev_cpu_dead_empties_slots)
}

/* -- kick and IPI ------------------------------------------------------------------------------- */

inline check_kick_at_half_capacity(act, a) {
  kick_at_half_capacity = true;
  if
  :: act == ACT_DeferPush ->
       x_kick = (t_on[a] && d_on[a] && d_pc[a] == PC_KICK);
       if
       :: V6 -> x_ok = (pre_d_count == pre_d_defer_max / 2 + 1)
       :: else -> x_ok = (pre_defer_count[SLOT(pre_d_cpu, 0)] == pre_d_defer_max / 2)
       fi;
       if :: x_kick != x_ok -> kick_at_half_capacity = false :: else fi
  :: else
  fi;
  assert(kick_at_half_capacity)
}

inline check_at_most_one_ipi_in_flight() {
  at_most_one_ipi_in_flight = true;
  for (y_i : 0 .. NCPU - 1) {
    if
    :: (ipi_queued[y_i] > 1 || (ipi_queued[y_i] > 0 && !defer_ipi_scheduled[y_i])) -> at_most_one_ipi_in_flight = false
    :: else
    fi
  };
  assert(at_most_one_ipi_in_flight)
}

/* -- the close decision ------------------------------------------------------------------------- */

inline check_rst_iff_data_lost(act, a) {
  rst_iff_data_lost = true;
  if
  :: (act == ACT_CloseDecide && pre_sk_state != CLOSE && pre_sk_state != LISTEN && !REPAIR(a)) ->
       /* data_end is rcv_nxt less the FIN, if one was received; lost: it lies after copied_seq */
       x_unread = (pre_rcv_nxt - (pre_sk_state == CLOSE_WAIT -> 1 : 0) - pre_copied_seq > 0);
       x_off = TCPABORTONCLOSE[a] - pre_aborts[a];
       x_avail = rst_sent[a] - pre_rst;
       x_used = fin_sent[a] - pre_fin;
       if
       :: (x_unread && !(x_off == 1 && x_avail == 1 && x_used == 0)) -> rst_iff_data_lost = false
       :: (!x_unread && x_off != 0) -> rst_iff_data_lost = false
       :: (!x_unread && !LINGER0(a) && !(x_avail == 0 && x_used == 1)) -> rst_iff_data_lost = false
       :: else
       fi
  :: else
  fi;
  assert(rst_iff_data_lost)
}

inline check_abort_counted_once_per_close(act, a) {
  abort_counted_once_per_close = true;
  for (y_j : 0 .. NSOCK - 1) {
    if
    :: (TCPABORTONCLOSE[y_j] != pre_aborts[y_j] && !(act == ACT_CloseDecide && a == y_j && TCPABORTONCLOSE[y_j] == pre_aborts[y_j] + 1)) ->
         abort_counted_once_per_close = false
    :: else
    fi
  };
  assert(abort_counted_once_per_close)
}

/* -- liveness, at quiescence -------------------------------------------------------------------- */

inline check_kick_leads_to_flush() {
  kick_leads_to_flush = true;
  for (y_i : 0 .. NCPU - 1) { if :: (online[y_i] && kick_unserved[y_i]) -> kick_leads_to_flush = false :: else fi };
  assert(kick_leads_to_flush)
}

inline check_deferred_skbs_freed_or_allowed() {
  deferred_skbs_freed_or_allowed = true;
  for (x_c : 0 .. NCPU - 1) {
    for (x_node : 0 .. NNODE - 1) {
      for (y_n : 0 .. NSKB - 1) {
        if
        :: y_n < defer_len[SLOT(x_c, x_node)] ->
             y_i = LIST(SLOT(x_c, x_node), y_n);
             x_below = (skb_deferred[y_i] && skb_def_count[y_i] - 1 < skb_def_defer_max[y_i] / 2);
             if
             :: (online[x_c] && !kick_unserved[x_c] && !net_rx_pending[x_c] && x_below) -> skip  /* below the kick point */
             :: (online[x_c] && defer_ipi_scheduled[x_c] && ipi_queued[x_c] == 0 && !net_rx_pending[x_c]) -> skip  /* F2 */
             :: (!online[x_c] && !HOTPLUG_FLUSH) -> skip  /* waits for the CPU to return */
             :: (!online[x_c] && HOTPLUG_FLUSH && !dead_pending[x_c]) -> skip  /* F3 */
             :: else -> deferred_skbs_freed_or_allowed = false
             fi
        :: else
        fi
      }
    }
  };
  assert(deferred_skbs_freed_or_allowed)
}

inline check_dead_cpu_slots_emptied() {
  dead_cpu_slots_emptied = true;
  if
  :: HOTPLUG_FLUSH ->
       for (x_c : 0 .. NCPU - 1) {
         for (x_node : 0 .. NNODE - 1) {
           if :: (!online[x_c] && !dead_pending[x_c] && defer_len[SLOT(x_c, x_node)] > 0) -> dead_cpu_slots_emptied = false :: else fi
         }
       }
  :: else
  fi;
  assert(dead_cpu_slots_emptied)
}

inline check_no_wedged_slot() {
  no_wedged_slot = true;
  if
  :: skb_defer_max >= 2 ->
       for (x_c : 0 .. NCPU - 1) {
         for (x_node : 0 .. NNODE - 1) {
           if
           :: (online[x_c] && defer_len[SLOT(x_c, x_node)] == 0 && defer_count[SLOT(x_c, x_node)] >= skb_defer_max) -> no_wedged_slot = false
           :: else
           fi
         }
       }
  :: else
  fi;
  assert(no_wedged_slot)
}
